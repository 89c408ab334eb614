#!/usr/bin/env bash
# Print what is needed to debug a failed run: objects, events, operator and peer logs.
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
set +e

log "externalidentities / serviceaccountbindings"
k get externalidentities -o yaml
k get serviceaccountbindings -A -o yaml
log "pods"
k get pods -A -o wide
log "events (${OPERATOR_NAMESPACE}, ${APP_NAMESPACE})"
k -n "${OPERATOR_NAMESPACE}" get events --sort-by=.lastTimestamp
k -n "${APP_NAMESPACE}" get events --sort-by=.lastTimestamp
log "operator logs"
k -n "${OPERATOR_NAMESPACE}" logs "deployment/${RELEASE}-external-identity-operator" --all-containers --tail=500
log "peer logs"
k -n "${PEERS_NAMESPACE}" logs deployment/peers --tail=300
exit 0
