#!/usr/bin/env bash
# Run the whole end-to-end suite: every step in order. On failure, print debug output.
# KEEP_CLUSTER=1 keeps the kind cluster afterwards (it is deleted otherwise);
# SKIP_BUILD=1 reuses images already built and loaded.
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

steps=(00-prerequisites 10-create-cluster)
[[ "${SKIP_BUILD:-0}" == 1 ]] || steps+=(20-build-images 30-load-images)
steps+=(40-deploy-peers 50-install-chart 60-apply-examples 70-check-token 80-check-lifecycle)

finish() {
  local status=$?
  if ((status != 0)); then
    bash "${E2E_DIR}/85-collect-logs.sh" || true
    printf '\ne2e: FAILED (exit %s)\n' "${status}" >&2
  fi
  if [[ "${KEEP_CLUSTER:-0}" != 1 ]]; then
    bash "${E2E_DIR}/90-delete-cluster.sh" || true
  fi
  exit "${status}"
}
trap finish EXIT

for step in "${steps[@]}"; do
  bash "${E2E_DIR}/${step}.sh"
done
printf '\ne2e: all steps passed\n' >&2
