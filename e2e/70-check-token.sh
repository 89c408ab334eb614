#!/usr/bin/env bash
# The pod reads a valid token from its mounted Secret, and the file changes to a new valid
# token when the operator refreshes it (binding TTL 60 s, refresh at 50 %).
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

log "reading the token mounted in pod ${APP_NAMESPACE}/token-reader"
first="$(read_mounted_token)"
[[ "${first}" =~ ^pss_service:v2:[^[:space:]]+$ ]] || die "mounted token is not a Phase service token"
verify_token_at_peer "${first}" || die "the Phase peer does not accept the mounted token"
note "token accepted by the Phase peer"

expires="$(k -n "${APP_NAMESPACE}" get serviceaccountbinding "${BINDING}" -o jsonpath='{.status.expiresAt}')"
[[ -n "${expires}" ]] || die "status.expiresAt is empty"
note "status.expiresAt=${expires}"

log "waiting for the operator to refresh the token and the kubelet to update the file"
token_changed() { local now; now="$(read_mounted_token)" && [[ -n "${now}" && "${now}" != "${first}" ]]; }
wait_until "${TIMEOUT}" "the mounted token to be refreshed" token_changed
second="$(read_mounted_token)"
[[ "${second}" =~ ^pss_service:v2:[^[:space:]]+$ ]] || die "refreshed token is not a Phase service token"
verify_token_at_peer "${second}" || die "the Phase peer does not accept the refreshed token"
note "refreshed token accepted by the Phase peer"

refreshed="$(k -n "${APP_NAMESPACE}" get serviceaccountbinding "${BINDING}" -o jsonpath='{.status.lastRefreshTime}')"
note "status.lastRefreshTime=${refreshed}"
