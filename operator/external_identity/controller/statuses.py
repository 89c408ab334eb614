"""Writes the ``status`` subresource of our custom resources (Kubernetes I/O)."""

from __future__ import annotations

import asyncio
from collections.abc import Mapping
from typing import Any

from kubernetes import client
from kubernetes.client.exceptions import ApiException

from ..errors import ExternalIdentityError

__all__ = ["GROUP", "VERSION", "StatusWriteError", "StatusWriter"]

GROUP = "externalidentity.dev"
VERSION = "v1alpha1"
BINDINGS = "serviceaccountbindings"


class StatusWriteError(ExternalIdentityError):
    reason = "StatusWriteFailed"
    retryable = True


class StatusWriter:
    def __init__(self, api: client.CustomObjectsApi) -> None:
        self._api = api

    async def patch_binding(self, *, namespace: str, name: str, status: Mapping[str, Any]) -> None:
        """Merge-patch the binding's status; a binding that is already gone is fine."""
        try:
            await asyncio.to_thread(
                self._api.patch_namespaced_custom_object_status,
                GROUP, VERSION, namespace, BINDINGS, name, {"status": dict(status)},
            )
        except ApiException as error:
            if error.status == 404:
                return
            raise StatusWriteError(
                f"cannot update status of ServiceAccountBinding {namespace}/{name}: "
                f"HTTP {error.status} {error.reason}"
            ) from None
