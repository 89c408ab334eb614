#!/usr/bin/env bash
# Create the kind cluster (idempotent).
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

if "${KIND}" get clusters 2>/dev/null | grep -qx "${CLUSTER_NAME}"; then
  log "kind cluster ${CLUSTER_NAME} exists"
else
  log "creating kind cluster ${CLUSTER_NAME}"
  args=(create cluster --name "${CLUSTER_NAME}" --config "${E2E_DIR}/kind.yaml" --wait 120s)
  [[ -n "${KIND_NODE_IMAGE}" ]] && args+=(--image "${KIND_NODE_IMAGE}")
  "${KIND}" "${args[@]}"
fi
k cluster-info >/dev/null
k wait --for=condition=Ready nodes --all --timeout="${TIMEOUT}s"
