#!/usr/bin/env bash
# A deleted Secret is rewritten; deleting the binding removes its Secret (owner reference).
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

log "the Secret has the binding as its controlling owner"
owner="$(k -n "${APP_NAMESPACE}" get secret "${SECRET}" \
  -o jsonpath='{.metadata.ownerReferences[?(@.controller==true)].kind}/{.metadata.ownerReferences[?(@.controller==true)].name}')"
[[ "${owner}" == "ServiceAccountBinding/${BINDING}" ]] || die "Secret owner is '${owner}'"

log "deleting the Secret: the operator must rewrite it"
k -n "${APP_NAMESPACE}" delete secret "${SECRET}" --wait=true
wait_until "${TIMEOUT}" "the Secret to be rewritten" k -n "${APP_NAMESPACE}" get secret "${SECRET}"
token="$(k -n "${APP_NAMESPACE}" get secret "${SECRET}" -o jsonpath='{.data.token}' | base64 -d)"
verify_token_at_peer "${token}" || die "the rewritten Secret holds no valid token"

log "deleting the binding: its Secret must go with it"
k -n "${APP_NAMESPACE}" delete pod token-reader --wait=false
k -n "${APP_NAMESPACE}" delete serviceaccountbinding "${BINDING}" --wait=true --timeout="${TIMEOUT}s"
secret_gone() { ! k -n "${APP_NAMESPACE}" get secret "${SECRET}" >/dev/null 2>&1; }
wait_until "${TIMEOUT}" "the Secret to be garbage-collected" secret_gone
note "Secret removed"
