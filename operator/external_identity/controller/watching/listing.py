"""Where the operator lists and watches: identities, its own Secrets, and the bindings.

A :class:`Scope` is one LIST/WATCH endpoint. Namespaces are what ``--namespace`` names: plain
names are one scope each (a Role in each is enough); a glob (``team-*``) or an exclusion
(``!sandbox``) is one cluster-wide scope whose objects are matched against the patterns, as
kopf matches them against the namespaces it sees.

LISTs are read as raw JSON (not the client's model objects), a page at a time: no more than a
page of full objects is held at once.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from kubernetes import client

from external_identity.api.resources import BINDINGS, GROUP, IDENTITIES, VERSION
from external_identity.controller.shards.scopes import namespace_matches
from external_identity.secrets.data import MANAGED_BY_LABEL

__all__ = ["Lister", "Page", "Scope", "namespace_matches", "patterned"]

#: Objects in a LIST's first page: few, so the first ones are worked on while the rest comes.
FIRST_PAGE_SIZE = 50
#: Objects per later page: bounded memory on the server and here.
PAGE_SIZE = 500
#: (connect, read) seconds for one page: a LIST that hangs is retried, never waited on forever.
PAGE_TIMEOUT = (5, 20)
_GLOB = set("*?[!")


def patterned(namespaces: Sequence[str]) -> bool:
    """Whether some ``--namespace`` is a glob or an exclusion, not a namespace's name."""
    return any(_GLOB & set(namespace) for namespace in namespaces)


@dataclass(frozen=True)
class Page:
    items: list[dict[str, Any]]
    #: The LIST's resourceVersion (every page of one LIST carries its first page's).
    resource_version: str


@dataclass(frozen=True)
class Scope:
    """One endpoint to list and watch ``what`` at: every namespace, or ``namespace``."""

    what: str
    call: Callable[..., Any]
    args: tuple[Any, ...]
    namespace: str | None = None
    #: Server-side options: the label selector.
    options: Mapping[str, str] = field(default_factory=dict)
    #: ``--namespace`` globs and exclusions, matched here (cluster-wide scopes only).
    patterns: tuple[str, ...] = ()
    #: Objects asked for in the first page of a LIST, and in each later one.
    page_sizes: tuple[int, int] = (FIRST_PAGE_SIZE, PAGE_SIZE)

    def keeps(self, obj: Mapping[str, Any]) -> bool:
        namespace = (obj.get("metadata") or {}).get("namespace", "")
        return not self.patterns or namespace_matches(namespace, self.patterns)

    def covers(self, namespace: str) -> bool:
        return self.namespace is None or namespace == self.namespace

    def pages(self) -> Iterator[Page]:
        """The LIST, a page at a time (blocking: call it in a thread)."""
        token: str | None = None
        version = ""
        while True:
            limit = self.page_sizes[1] if token else self.page_sizes[0]
            reply = self.call(*self.args, limit=limit, _continue=token,
                              _preload_content=False, _request_timeout=PAGE_TIMEOUT,
                              **self.options)
            page = json.loads(reply.data)
            metadata = page.get("metadata") or {}
            version = version or str(metadata.get("resourceVersion") or "")
            yield Page([item for item in page.get("items") or [] if self.keeps(item)], version)
            token = metadata.get("continue")
            if not token:
                return

    def watch(self, resource_version: str, seconds: int) -> Any:
        """A streaming WATCH from ``resource_version`` (urllib3 response; blocking)."""
        return self.call(*self.args, watch=True, resource_version=resource_version,
                         allow_watch_bookmarks=True, timeout_seconds=seconds,
                         _preload_content=False, _request_timeout=(5, seconds + 30),
                         **self.options)


@dataclass(frozen=True)
class Lister:
    custom: client.CustomObjectsApi
    core: client.CoreV1Api
    #: ``--namespace`` values; empty for all namespaces.
    namespaces: tuple[str, ...] = ()
    #: ``--binding-selector``: only bindings with these labels (a shard of the cluster).
    binding_selector: str | None = None

    def identities(self) -> Scope:
        return Scope("ExternalIdentities", self.custom.list_cluster_custom_object,
                     (GROUP, VERSION, IDENTITIES))

    def bindings(self) -> list[Scope]:
        selector = {"label_selector": self.binding_selector} if self.binding_selector else {}
        return self._in_namespaces(
            "ServiceAccountBindings",
            lambda: (self.custom.list_cluster_custom_object, (GROUP, VERSION, BINDINGS)),
            lambda ns: (self.custom.list_namespaced_custom_object, (GROUP, VERSION, ns, BINDINGS)),
            selector,
        )

    def token_secrets(self) -> list[Scope]:
        """Secrets labelled as ours in the served namespaces."""
        return self._in_namespaces(
            "token Secrets",
            lambda: (self.core.list_secret_for_all_namespaces, ()),
            lambda ns: (self.core.list_namespaced_secret, (ns,)),
            {"label_selector": "=".join(MANAGED_BY_LABEL)},
        )

    def _in_namespaces(
        self,
        what: str,
        everywhere: Callable[[], tuple[Callable[..., Any], tuple[Any, ...]]],
        inside: Callable[[str], tuple[Callable[..., Any], tuple[Any, ...]]],
        options: dict[str, str],
    ) -> list[Scope]:
        if self.namespaces and not patterned(self.namespaces):
            return [Scope(f"{what} in {namespace}", *inside(namespace), namespace=namespace,
                          options=options) for namespace in self.namespaces]
        return [Scope(what, *everywhere(), options=options, patterns=self.namespaces)]
