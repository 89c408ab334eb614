#!/usr/bin/env bash
# Delete the kind cluster.
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

log "deleting kind cluster ${CLUSTER_NAME}"
"${KIND}" delete cluster --name "${CLUSTER_NAME}"
