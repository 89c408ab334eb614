#!/usr/bin/env bash
# Build the operator image (Dockerfile) and the test-peers image (e2e/peers.Dockerfile).
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

export DOCKER_BUILDKIT=1  # e2e/peers.Dockerfile.dockerignore needs BuildKit
log "building ${IMAGE_REPOSITORY}:${IMAGE_TAG}"
"${DOCKER}" build --tag "${IMAGE_REPOSITORY}:${IMAGE_TAG}" --file "${REPO_ROOT}/Dockerfile" "${REPO_ROOT}"
log "building ${PEERS_IMAGE}"
"${DOCKER}" build --tag "${PEERS_IMAGE}" --file "${E2E_DIR}/peers.Dockerfile" "${REPO_ROOT}"

log "checking the operator image runs as UID 10001 without pip"
user="$("${DOCKER}" image inspect --format '{{.Config.User}}' "${IMAGE_REPOSITORY}:${IMAGE_TAG}")"
[[ "${user}" == "10001:10001" ]] || die "image user is '${user}', want 10001:10001"
for python in /opt/venv/bin/python /usr/local/bin/python3; do
  if "${DOCKER}" run --rm --entrypoint "${python}" "${IMAGE_REPOSITORY}:${IMAGE_TAG}" \
      -c 'import pip' >/dev/null 2>&1; then
    die "pip is importable by ${python} in the operator image"
  fi
done
"${DOCKER}" run --rm --entrypoint /opt/venv/bin/external-identity \
  "${IMAGE_REPOSITORY}:${IMAGE_TAG}" --version
