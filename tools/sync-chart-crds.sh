#!/usr/bin/env bash
# Copy the repository's CRDs (crds/*.yaml, the one source) into the Helm chart's crds/.
#
# The chart's own kopf peering CRDs (helm/external-identity-operator/crds/kopf-peerings.yaml)
# are kept; any other file in the chart's crds/ that no longer exists in crds/ is removed.
# tests/chart checks the result is byte-identical.
#
#   tools/sync-chart-crds.sh          # copy
#   tools/sync-chart-crds.sh --check  # exit 1 if the chart's copies differ from crds/
set -euo pipefail

repo_root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
source_dir="${repo_root}/crds"
chart_dir="${repo_root}/helm/external-identity-operator/crds"
chart_owned="kopf-peerings.yaml"

check=0
[[ "${1:-}" == "--check" ]] && check=1

shopt -s nullglob
sources=("${source_dir}"/*.yaml)
status=0

for copy in "${chart_dir}"/*.yaml; do
  name="$(basename "${copy}")"
  [[ "${name}" == "${chart_owned}" ]] && continue
  if [[ ! -f "${source_dir}/${name}" ]]; then
    if (( check )); then
      echo "stale in chart: ${name} (not in crds/)" >&2
      status=1
    else
      rm -f "${copy}"
      echo "removed ${copy#"${repo_root}/"}"
    fi
  fi
done

for source in "${sources[@]}"; do
  name="$(basename "${source}")"
  if [[ "${name}" == "${chart_owned}" ]]; then
    echo "crds/${name} clashes with the chart's own kopf peering CRDs; rename it" >&2
    exit 1
  fi
  target="${chart_dir}/${name}"
  if cmp -s "${source}" "${target}"; then
    continue
  fi
  if (( check )); then
    echo "out of date in chart: ${name}" >&2
    status=1
  else
    cp "${source}" "${target}"
    echo "copied crds/${name}"
  fi
done

if (( check )) && (( status )); then
  echo "run tools/sync-chart-crds.sh" >&2
fi
exit "${status}"
