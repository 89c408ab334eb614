"""Writes the ``status`` subresource of our custom resources (Kubernetes I/O)."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from kubernetes import client
from kubernetes.client.exceptions import ApiException

from external_identity.api.resources import BINDING_KIND, BINDINGS, GROUP, IDENTITIES, VERSION
from external_identity.errors import StatusWriteError
from external_identity.kube.calls import call_api

__all__ = ["StatusWriter"]


class StatusWriter:
    def __init__(self, api: client.CustomObjectsApi) -> None:
        self._api = api

    async def patch_binding(self, *, namespace: str, name: str, status: Mapping[str, Any]) -> None:
        """Merge-patch the binding's status; a binding that is already gone is fine."""
        await self._patch(
            f"{BINDING_KIND} {namespace}/{name}",
            self._api.patch_namespaced_custom_object_status,
            GROUP, VERSION, namespace, BINDINGS, name, {"status": dict(status)},
        )

    async def patch_identity(self, *, name: str, status: Mapping[str, Any]) -> None:
        """Merge-patch an ExternalIdentity's status; one that is already gone is fine."""
        await self._patch(
            f"ExternalIdentity {name}",
            self._api.patch_cluster_custom_object_status,
            GROUP, VERSION, IDENTITIES, name, {"status": dict(status)},
        )

    @staticmethod
    async def _patch(what: str, call: Callable[..., Any], *args: Any) -> None:
        try:
            await call_api(f"update status of {what}", StatusWriteError, call, *args)
        except ApiException as error:
            if error.status == 404:
                return
            raise StatusWriteError(
                f"cannot update status of {what}: HTTP {error.status} {error.reason}"
            ) from None
