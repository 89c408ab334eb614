#!/usr/bin/env bash
# Install Prometheus's own `promtool` into .tools/bin/promtool, from Debian's `prometheus`
# package (the only registry on these machines that ships it: it is not on PyPI or npm).
#
# The package is downloaded, not installed: only usr/bin/promtool is unpacked from the .deb,
# so no Prometheus server, user or service is set up on the machine.
#
#   tools/install-promtool.sh                    # installs .tools/bin/promtool (skips if it works)
#   PROMTOOL_DEB_VERSION=2.42.0+ds-5+deb12u1 tools/install-promtool.sh   # a given version
#
# Prints the path of the promtool binary on its last line; exits non-zero, saying why, when it
# cannot be had.
set -euo pipefail

repo_root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
tools_dir="${TOOLS_DIR:-${repo_root}/.tools}"
bin_dir="${tools_dir}/bin"
promtool_bin="${bin_dir}/promtool"
package="prometheus${PROMTOOL_DEB_VERSION:+=${PROMTOOL_DEB_VERSION}}"

if [[ -x "${promtool_bin}" ]] && "${promtool_bin}" --version >/dev/null 2>&1; then
  echo "${promtool_bin}"
  exit 0
fi

for tool in apt-get dpkg-deb tar; do
  command -v "${tool}" >/dev/null || {
    echo "install-promtool: '${tool}' is required (promtool comes from Debian's prometheus" \
      "package); elsewhere put a promtool binary at ${promtool_bin} or on PATH" >&2
    exit 1
  }
done

work="$(mktemp -d)"
trap 'rm -rf "${work}"' EXIT

apt_options=()
# As root, apt drops to the _apt user to download, which cannot write into a private temp dir.
[[ "$(id -u)" == 0 ]] && apt_options+=(-o APT::Sandbox::User=root)

download() {
  (cd "${work}" && apt-get "${apt_options[@]}" download -qq "${package}") >&2
}

echo "install-promtool: fetching ${package} from the Debian archive" >&2
if ! download; then
  # A fresh machine may have no package lists yet.
  if [[ "$(id -u)" != 0 ]]; then
    echo "install-promtool: 'apt-get download ${package}' failed; run 'apt-get update' as root" >&2
    exit 1
  fi
  apt-get update -qq >&2
  download
fi
deb="$(find "${work}" -maxdepth 1 -name 'prometheus_*.deb' | head -n 1)"
[[ -n "${deb}" ]] || { echo "install-promtool: apt-get download produced no .deb" >&2; exit 1; }

mkdir -p "${work}/out" "${bin_dir}"
dpkg-deb --fsys-tarfile "${deb}" | tar -x -C "${work}/out" ./usr/bin/promtool
install -m 0755 "${work}/out/usr/bin/promtool" "${promtool_bin}.tmp"
mv -f "${promtool_bin}.tmp" "${promtool_bin}"

"${promtool_bin}" --version >&2
echo "${promtool_bin}"
