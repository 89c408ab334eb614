#!/usr/bin/env bash
# Copy both images into the kind node(s); the pods use imagePullPolicy Never/IfNotPresent.
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

log "loading images into kind cluster ${CLUSTER_NAME}"
"${KIND}" load docker-image --name "${CLUSTER_NAME}" "${IMAGE_REPOSITORY}:${IMAGE_TAG}"
"${KIND}" load docker-image --name "${CLUSTER_NAME}" "${PEERS_IMAGE}"
