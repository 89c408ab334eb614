#!/usr/bin/env bash
# Check that docker (with a running engine), kind, kubectl and helm are available.
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

log "checking prerequisites"
require_tools "${DOCKER}" "${KIND}" "${KUBECTL}" "${HELM}" python3
"${DOCKER}" info >/dev/null 2>&1 || die "'${DOCKER} info' failed: is the Docker engine running?"
note "docker  $("${DOCKER}" version --format '{{.Server.Version}}')"
note "kind    $("${KIND}" version)"
note "kubectl $("${KUBECTL}" version --client 2>/dev/null | head -n 1)"
note "helm    $("${HELM}" version --short)"
