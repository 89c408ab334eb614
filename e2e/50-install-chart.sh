#!/usr/bin/env bash
# Install (or upgrade) the chart with the e2e values and wait for the operator.
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

log "installing chart release ${RELEASE} into ${OPERATOR_NAMESPACE}"
h upgrade --install "${RELEASE}" "${CHART_DIR}" \
  --namespace "${OPERATOR_NAMESPACE}" --create-namespace \
  --values "${E2E_DIR}/values-e2e.yaml" \
  --set image.repository="${IMAGE_REPOSITORY}" --set image.tag="${IMAGE_TAG}" \
  --wait --timeout "${TIMEOUT}s"
k -n "${OPERATOR_NAMESPACE}" rollout status "deployment/${RELEASE}-external-identity-operator" \
  --timeout="${TIMEOUT}s"
for crd in externalidentities.externalidentity.dev serviceaccountbindings.externalidentity.dev; do
  k wait --for=condition=Established "crd/${crd}" --timeout=60s
done
