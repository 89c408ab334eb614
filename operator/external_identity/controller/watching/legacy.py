"""Releases what pre-release builds left on bindings: kopf's finalizer and its diff-base.

Those releases ran one kopf daemon per binding, and kopf puts a finalizer on every object a
daemon runs for. Bindings now rely on their Secret's owner reference and the garbage
collector, so the finalizer would only make deleting a binding hang while the operator is
down. The first time this release sees such a binding, one patch removes both.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from typing import Any

from kubernetes import client
from kubernetes.client.exceptions import ApiException

from external_identity.api.resources import BINDING_KIND, BINDINGS, GROUP, VERSION
from external_identity.errors import KubernetesApiError
from external_identity.kube.calls import api_failure, call_api
from external_identity.logrefs import about

__all__ = ["LEGACY_ANNOTATION", "LEGACY_FINALIZER", "carries_legacy_marks", "release"]

log = logging.getLogger(__name__)

LEGACY_FINALIZER = f"{GROUP}/finalizer"
LEGACY_ANNOTATION = f"{GROUP}/last-handled-configuration"


def carries_legacy_marks(metadata: Mapping[str, Any]) -> bool:
    return LEGACY_FINALIZER in (metadata.get("finalizers") or ()) or (
        LEGACY_ANNOTATION in (metadata.get("annotations") or {})
    )


async def release(api: client.CustomObjectsApi, metadata: Mapping[str, Any]) -> None:
    """Remove the legacy finalizer and annotation, only if the binding is still as seen."""
    namespace, name = metadata.get("namespace"), metadata.get("name")
    kept = [f for f in metadata.get("finalizers") or () if f != LEGACY_FINALIZER]
    patch = {"metadata": {
        "resourceVersion": metadata.get("resourceVersion"),
        "finalizers": kept or None,
        "annotations": {LEGACY_ANNOTATION: None},
    }}
    what = f"release the legacy finalizer of {BINDING_KIND} {namespace}/{name}"
    ref = about(BINDING_KIND, name, namespace)
    try:
        await call_api(what, KubernetesApiError, api.patch_namespaced_custom_object,
                       GROUP, VERSION, namespace, BINDINGS, name, patch)
    except ApiException as error:
        if error.status in (404, 409):
            return  # gone, or changed since: the next event brings it back here if need be
        reason, message = api_failure(error)
        log.warning("cannot %s: %s %s", what, reason, message, extra=ref)
    except KubernetesApiError as error:
        log.warning("%s", error, extra=ref)
    else:
        log.info("%s/%s: released the finalizer of an earlier release", namespace, name,
                 extra=ref)
