"""The LISTs the operator makes at start-up: identities, its own Secrets, and the bindings.

Read as raw JSON (not the client's model objects), a page at a time: thousands of Secrets cost
a few bytes each once :func:`.secretcache.cached_secret` has kept what matters, and no more
than a page of full objects is held at once.

Namespaces are what ``--namespace`` names: plain names are listed one by one (a Role in each
is enough); a glob (``team-*``) or an exclusion (``!sandbox``) is matched against a
cluster-wide LIST, as kopf matches them against the namespaces it sees.
"""

from __future__ import annotations

import fnmatch
import json
from collections.abc import AsyncIterator, Callable, Sequence
from dataclasses import dataclass
from typing import Any

from kubernetes import client

from ..errors import KubernetesApiError
from ..kubecalls import call_api
from ..secretdata import MANAGED_BY_LABEL
from .resources import BINDINGS, GROUP, IDENTITIES, VERSION

__all__ = ["Lister", "namespace_matches"]

#: Objects per LIST page: bounded memory on the server and here.
PAGE_SIZE = 500
#: (connect, read) seconds for one page: a LIST that hangs is retried, never waited on forever
#: (nothing is stepped until the start-up LISTs are in).
PAGE_TIMEOUT = (5, 20)
_GLOB = set("*?[!")


def namespace_matches(namespace: str, patterns: Sequence[str]) -> bool:
    """kopf's rule: some pattern matches (or only exclusions are given) and no ``!`` one does."""
    included = [p for p in patterns if not p.startswith("!")]
    excluded = [p[1:] for p in patterns if p.startswith("!")]
    return (not included or any(fnmatch.fnmatchcase(namespace, p) for p in included)) and not (
        any(fnmatch.fnmatchcase(namespace, p) for p in excluded)
    )


@dataclass(frozen=True)
class Lister:
    custom: client.CustomObjectsApi
    core: client.CoreV1Api
    #: ``--namespace`` values; empty for all namespaces.
    namespaces: tuple[str, ...] = ()
    #: ``--binding-selector``: only bindings with these labels (a shard of the cluster).
    binding_selector: str | None = None

    def identities(self) -> AsyncIterator[dict[str, Any]]:
        return _pages("list ExternalIdentities", self.custom.list_cluster_custom_object,
                      GROUP, VERSION, IDENTITIES)

    def bindings(self) -> AsyncIterator[dict[str, Any]]:
        selector = {"label_selector": self.binding_selector} if self.binding_selector else {}
        return self._in_namespaces(
            "ServiceAccountBindings",
            lambda: (self.custom.list_cluster_custom_object, (GROUP, VERSION, BINDINGS)),
            lambda ns: (self.custom.list_namespaced_custom_object, (GROUP, VERSION, ns, BINDINGS)),
            selector,
        )

    def token_secrets(self) -> AsyncIterator[dict[str, Any]]:
        """Every Secret labelled as ours in the served namespaces."""
        return self._in_namespaces(
            "token Secrets",
            lambda: (self.core.list_secret_for_all_namespaces, ()),
            lambda ns: (self.core.list_namespaced_secret, (ns,)),
            {"label_selector": "=".join(MANAGED_BY_LABEL)},
        )

    async def _in_namespaces(
        self,
        what: str,
        everywhere: Callable[[], tuple[Callable[..., Any], tuple[Any, ...]]],
        inside: Callable[[str], tuple[Callable[..., Any], tuple[Any, ...]]],
        options: dict[str, str],
    ) -> AsyncIterator[dict[str, Any]]:
        if self.namespaces and not any(_GLOB & set(ns) for ns in self.namespaces):
            for namespace in self.namespaces:
                call, args = inside(namespace)
                async for item in _pages(f"list {what} in {namespace}", call, *args, **options):
                    yield item
            return
        call, args = everywhere()
        async for item in _pages(f"list {what}", call, *args, **options):
            namespace = (item.get("metadata") or {}).get("namespace", "")
            if not self.namespaces or namespace_matches(namespace, self.namespaces):
                yield item


async def _pages(what: str, call: Any, *args: Any, **kwargs: Any) -> AsyncIterator[dict[str, Any]]:
    token: str | None = None
    while True:
        reply = await call_api(what, KubernetesApiError, call, *args, limit=PAGE_SIZE,
                               _continue=token, _preload_content=False,
                               _request_timeout=PAGE_TIMEOUT, **kwargs)
        page = json.loads(reply.data)
        for item in page.get("items") or []:
            yield item
        token = (page.get("metadata") or {}).get("continue")
        if not token:
            return
