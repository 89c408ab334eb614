# shellcheck shell=bash
# shellcheck disable=SC2034  # settings used by the step scripts that source this file
# Shared settings and helpers for the e2e steps. Sourced, not run.
# Every setting can be overridden from the environment.
set -euo pipefail

E2E_DIR="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
REPO_ROOT="$(cd "${E2E_DIR}/.." && pwd)"
CHART_DIR="${REPO_ROOT}/helm/external-identity-operator"

CLUSTER_NAME="${CLUSTER_NAME:-eio-e2e}"
KIND_NODE_IMAGE="${KIND_NODE_IMAGE:-}"            # e.g. kindest/node:v1.30.13; empty: kind's default
IMAGE_REPOSITORY="${IMAGE_REPOSITORY:-external-identity-operator}"
IMAGE_TAG="${IMAGE_TAG:-e2e}"
PEERS_IMAGE="${PEERS_IMAGE:-external-identity-peers:e2e}"
RELEASE="${RELEASE:-eio}"
OPERATOR_NAMESPACE="${OPERATOR_NAMESPACE:-external-identity-system}"
PEERS_NAMESPACE="${PEERS_NAMESPACE:-e2e-peers}"
APP_NAMESPACE="${APP_NAMESPACE:-e2e-app}"
TIMEOUT="${TIMEOUT:-300}"                          # seconds, for each wait
POLL_INTERVAL="${POLL_INTERVAL:-3}"                # seconds between checks while waiting

# The Phase service account the binding asks for; the peers are started with the same id.
SERVICE_ACCOUNT_ID="6a1c6d6e-5b1e-4c2a-9f3e-0e2e0e2e0e2e"
BINDING="e2e-binding"
SECRET="phase-service-token"

DOCKER="${DOCKER:-docker}"
KIND="${KIND:-kind}"
KUBECTL="${KUBECTL:-kubectl}"
if [[ -z "${HELM:-}" ]]; then
  if command -v helm >/dev/null; then HELM=helm; else HELM="${REPO_ROOT}/.tools/bin/helm"; fi
fi
KUBE_CONTEXT="kind-${CLUSTER_NAME}"

log() { printf '\n==> %s\n' "$*" >&2; }
note() { printf '    %s\n' "$*" >&2; }
die() { printf 'e2e: FAILED: %s\n' "$*" >&2; exit 1; }

k() { "${KUBECTL}" --context "${KUBE_CONTEXT}" "$@"; }
h() { "${HELM}" --kube-context "${KUBE_CONTEXT}" "$@"; }

# wait_until SECONDS DESCRIPTION COMMAND...: run COMMAND every POLL_INTERVAL s until it succeeds.
wait_until() {
  local limit="$1" what="$2"
  shift 2
  local deadline=$((SECONDS + limit))
  until "$@" >/dev/null 2>&1; do
    if ((SECONDS >= deadline)); then
      die "timed out after ${limit}s waiting for ${what}"
    fi
    sleep "${POLL_INTERVAL}"
  done
}

# The token as the application pod sees it in its mounted Secret volume.
read_mounted_token() {
  k -n "${APP_NAMESPACE}" exec token-reader -- cat /var/run/phase/token
}

# Ask the Phase peer whether it issued this token and it has not expired (exit 0 = valid).
verify_token_at_peer() {
  local token="$1"
  k -n "${APP_NAMESPACE}" exec -i token-reader -- python - "${token}" <<'PY'
import json
import sys
import urllib.request

request = urllib.request.Request(
    "http://phase.e2e-peers.svc.cluster.local:8000/e2e/verify",
    data=json.dumps({"token": sys.argv[1]}).encode(),
    headers={"Content-Type": "application/json"},
    method="POST",
)
with urllib.request.urlopen(request, timeout=10) as response:
    verdict = json.load(response)
print(json.dumps({"valid": verdict.get("valid"), "expiresAt": verdict.get("expiresAt")}))
sys.exit(0 if verdict.get("valid") is True else 1)
PY
}

require_tools() {
  local missing=()
  for tool in "$@"; do
    command -v "${tool}" >/dev/null || [[ -x "${tool}" ]] || missing+=("${tool}")
  done
  ((${#missing[@]} == 0)) || die "missing tools: ${missing[*]} (see e2e/README.md)"
}
