#!/usr/bin/env bash
# Copy the repository's CRDs (crds/*.yaml, the one source) into the Helm chart.
#
# They go to helm/external-identity-operator/files/crds/, which templates/crds.yaml renders
# (values crds.enabled, crds.keep), so `helm upgrade` applies their changes. The chart's crds/
# directory, which Helm installs once and never upgrades, holds only the chart's own kopf
# peering CRDs (kopf-peerings.yaml): the chart creates a peering object, which Helm can build
# only when its CRD is installed before the templates. A copy of a repository CRD left in the
# chart's crds/ (the layout before templates/crds.yaml) would be installed twice: it is removed,
# as is any file in files/crds/ that no longer exists in crds/. tests/chart checks the result.
#
#   tools/sync-chart-crds.sh          # copy
#   tools/sync-chart-crds.sh --check  # exit 1 if the chart's copies differ from crds/
set -euo pipefail

repo_root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
source_dir="${repo_root}/crds"
chart="${repo_root}/helm/external-identity-operator"
target_dir="${chart}/files/crds"
helm_crds_dir="${chart}/crds"
chart_owned="kopf-peerings.yaml"

check=0
[[ "${1:-}" == "--check" ]] && check=1

shopt -s nullglob
sources=("${source_dir}"/*.yaml)
status=0

stale() {  # stale FILE WHY: remove it, or report it with --check
  if (( check )); then
    echo "stale in chart: ${1#"${repo_root}/"} ($2)" >&2
    status=1
  else
    rm -f "$1"
    echo "removed ${1#"${repo_root}/"}"
  fi
}

for copy in "${helm_crds_dir}"/*; do
  [[ "$(basename "${copy}")" == "${chart_owned}" ]] && continue
  stale "${copy}" "the chart's crds/ holds only ${chart_owned}; the operator's CRDs are in files/crds/"
done

for copy in "${target_dir}"/*; do
  name="$(basename "${copy}")"
  [[ -f "${source_dir}/${name}" ]] || stale "${copy}" "not in crds/"
done

if [[ ! -f "${helm_crds_dir}/${chart_owned}" ]]; then
  echo "missing: helm/external-identity-operator/crds/${chart_owned}" >&2
  status=1
fi

(( check )) || mkdir -p "${target_dir}"
for source in "${sources[@]}"; do
  name="$(basename "${source}")"
  if [[ "${name}" == "${chart_owned}" ]]; then
    echo "crds/${name} clashes with the chart's own kopf peering CRDs; rename it" >&2
    exit 1
  fi
  target="${target_dir}/${name}"
  if cmp -s "${source}" "${target}"; then
    continue
  fi
  if (( check )); then
    echo "out of date in chart: files/crds/${name}" >&2
    status=1
  else
    cp "${source}" "${target}"
    echo "copied crds/${name} to helm/external-identity-operator/files/crds/"
  fi
done

if (( check )) && (( status )); then
  echo "run tools/sync-chart-crds.sh" >&2
fi
exit "${status}"
