#!/usr/bin/env bash
# Run the Phase-protocol test server and the moto STS peer in the cluster, then hand the
# AWS credentials the STS peer issued to the operator as a Secret.
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

log "deploying the test peers into ${PEERS_NAMESPACE}"
sed -e "s|@PEERS_IMAGE@|${PEERS_IMAGE}|g" -e "s|@SERVICE_ACCOUNT_ID@|${SERVICE_ACCOUNT_ID}|g" \
  "${E2E_DIR}/manifests/peers.yaml" | k apply -f -
k -n "${PEERS_NAMESPACE}" rollout status deployment/peers --timeout="${TIMEOUT}s"
wait_until "${TIMEOUT}" "the peers' contract file" \
  k -n "${PEERS_NAMESPACE}" exec deploy/peers -- test -s /var/run/peers/contract.json

log "creating Secret ${OPERATOR_NAMESPACE}/e2e-aws-credentials from the STS peer's credentials"
contract="$(k -n "${PEERS_NAMESPACE}" exec deploy/peers -- cat /var/run/peers/contract.json)"
field() { python3 -c 'import json,sys; v=json.loads(sys.argv[1])["aws"].get(sys.argv[2]); print(v or "")' "${contract}" "$1"; }
k create namespace "${OPERATOR_NAMESPACE}" --dry-run=client -o yaml | k apply -f -
literals=(
  --from-literal=AWS_ACCESS_KEY_ID="$(field accessKeyId)"
  --from-literal=AWS_SECRET_ACCESS_KEY="$(field secretAccessKey)"
)
session_token="$(field sessionToken)"
[[ -n "${session_token}" ]] && literals+=(--from-literal=AWS_SESSION_TOKEN="${session_token}")
k -n "${OPERATOR_NAMESPACE}" create secret generic e2e-aws-credentials "${literals[@]}" \
  --dry-run=client -o yaml | k apply -f -
note "the operator will sign as $(field arn)"
