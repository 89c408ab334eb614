"""The LISTs the operator makes at start-up: identities, its own Secrets, and the bindings.

Read as raw JSON (not the client's model objects): thousands of Secrets cost a few bytes each
once :func:`.secretcache.cached_secret` has kept what matters, not a full object graph.
"""

from __future__ import annotations

import json
from typing import Any

from kubernetes import client

from ..errors import KubernetesApiError
from ..kubecalls import call_api
from ..secretdata import MANAGED_BY_LABEL
from .resources import BINDINGS, GROUP, IDENTITIES, VERSION

__all__ = ["list_bindings", "list_identities", "list_token_secrets"]

#: Secrets per LIST page: bounded memory on the server and here.
PAGE_SIZE = 500


async def _pages(what: str, call: Any, *args: Any, **kwargs: Any) -> list[dict[str, Any]]:
    items: list[dict[str, Any]] = []
    token: str | None = None
    while True:
        reply = await call_api(what, KubernetesApiError, call, *args, limit=PAGE_SIZE,
                               _continue=token, _preload_content=False, **kwargs)
        page = json.loads(reply.data)
        items.extend(page.get("items") or [])
        token = (page.get("metadata") or {}).get("continue")
        if not token:
            return items


async def list_identities(api: client.CustomObjectsApi) -> list[dict[str, Any]]:
    return await _pages("list ExternalIdentities", api.list_cluster_custom_object,
                        GROUP, VERSION, IDENTITIES)


async def list_bindings(
    api: client.CustomObjectsApi, namespaces: tuple[str, ...]
) -> list[dict[str, Any]]:
    """Every binding in the watched namespaces (all when none are named)."""
    if not namespaces:
        return await _pages("list ServiceAccountBindings",
                            api.list_cluster_custom_object, GROUP, VERSION, BINDINGS)
    bindings: list[dict[str, Any]] = []
    for namespace in namespaces:
        bindings += await _pages(f"list ServiceAccountBindings in {namespace}",
                                 api.list_namespaced_custom_object,
                                 GROUP, VERSION, namespace, BINDINGS)
    return bindings


async def list_token_secrets(
    api: client.CoreV1Api, namespaces: tuple[str, ...]
) -> list[dict[str, Any]]:
    """Every Secret labelled as ours, in the watched namespaces (all when none are named)."""
    selector = "=".join(MANAGED_BY_LABEL)
    if not namespaces:
        return await _pages("list token Secrets", api.list_secret_for_all_namespaces,
                            label_selector=selector)
    secrets: list[dict[str, Any]] = []
    for namespace in namespaces:
        secrets += await _pages(f"list token Secrets in {namespace}",
                                api.list_namespaced_secret, namespace, label_selector=selector)
    return secrets
