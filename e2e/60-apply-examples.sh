#!/usr/bin/env bash
# Create the ExternalIdentity, the ServiceAccountBinding and a pod that mounts the Secret,
# then wait for the binding to become Ready.
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

log "applying the ExternalIdentity, binding and token-reader pod"
sed -e "s|@SERVICE_ACCOUNT_ID@|${SERVICE_ACCOUNT_ID}|g" "${E2E_DIR}/manifests/identity.yaml" | k apply -f -
sed -e "s|@SERVICE_ACCOUNT_ID@|${SERVICE_ACCOUNT_ID}|g" "${E2E_DIR}/manifests/binding.yaml" | k apply -f -
k -n "${APP_NAMESPACE}" wait --for=condition=Ready "serviceaccountbinding/${BINDING}" \
  --timeout="${TIMEOUT}s" || {
  k -n "${APP_NAMESPACE}" get serviceaccountbinding "${BINDING}" -o yaml >&2 || true
  die "binding ${BINDING} did not become Ready"
}
k get externalidentities
k -n "${APP_NAMESPACE}" get serviceaccountbindings -o wide

sed -e "s|@PEERS_IMAGE@|${PEERS_IMAGE}|g" "${E2E_DIR}/manifests/reader.yaml" | k apply -f -
k -n "${APP_NAMESPACE}" wait --for=condition=Ready pod/token-reader --timeout="${TIMEOUT}s"
