"""What the informers' events mean to the operator: identities and Secrets to their caches,
bindings to the fleet."""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Coroutine, Mapping, Set
from dataclasses import dataclass
from typing import Any

from external_identity.api.conditions import ready_condition
from external_identity.controller.bindings.fleet import BindingFleet
from external_identity.controller.identities.cache import IdentityCache
from external_identity.controller.watching.informers import ObjectKey, object_key
from external_identity.controller.watching.legacy import carries_legacy_marks
from external_identity.controller.watching.listing import Scope
from external_identity.secrets.cache import CachedSecret, SecretCache, cached_secret

__all__ = ["BindingFeed", "IdentityFeed", "SecretFeed"]


def without_managed_fields(obj: Mapping[str, Any]) -> dict[str, Any]:
    """An identity or a binding as we read it: metadata (but ``managedFields``), spec, status."""
    metadata = {k: v for k, v in (obj.get("metadata") or {}).items() if k != "managedFields"}
    return {"metadata": metadata, "spec": obj.get("spec") or {}, "status": obj.get("status") or {}}


@dataclass(frozen=True)
class SeenSecret:
    namespace: str
    name: str
    secret: CachedSecret


class IdentityFeed:
    """Identities, to the cache. A new one, a new spec or a deletion is ``changed`` or
    ``deleted`` (a status write is neither); a new version of one already known is ``seen``
    with the Ready condition it had (for its Events); every version is ``entries_seen`` (the
    operators' entries in its status may have changed); any event may change what identity
    status to write, so each ends with ``recount``."""

    def __init__(
        self, identities: IdentityCache, *, changed: Callable[[str], None],
        deleted: Callable[[str], None], recount: Callable[[], None],
        seen: Callable[[Mapping[str, Any], Mapping[str, Any] | None], None] | None = None,
        entries_seen: Callable[[str], None] | None = None,
    ) -> None:
        self._identities = identities
        self._changed = changed
        self._deleted = deleted
        self._recount = recount
        self._seen = seen
        self._entries_seen = entries_seen

    trim = staticmethod(without_managed_fields)

    def saw(self, obj: dict[str, Any]) -> None:
        name = object_key(obj)[1]
        known = self._identities.get(name)
        if self._identities.saw(obj):
            self._changed(name)
        if known is not None and self._seen is not None:
            self._seen(obj, ready_condition({"conditions": known["conditions"]}))
        if self._entries_seen is not None:
            self._entries_seen(name)
        self._recount()

    def gone(self, obj: dict[str, Any]) -> None:
        self._forget(object_key(obj)[1])
        self._recount()

    def listed(self, scope: Scope, keys: Set[ObjectKey], version: str) -> None:
        for name in self._identities.names() - {name for _, name in keys}:
            self._forget(name)
        self._recount()

    def _forget(self, name: str) -> None:
        self._identities.gone(name)
        self._deleted(name)


class BindingFeed:
    """Bindings as listed and watched, to the fleet; legacy marks released on sight."""

    def __init__(
        self, fleet: BindingFleet,
        release: Callable[[Mapping[str, Any]], Coroutine[Any, Any, None]],
    ) -> None:
        self._fleet = fleet
        self._release = release
        self._releasing: set[asyncio.Task[None]] = set()

    trim = staticmethod(without_managed_fields)

    def saw(self, obj: dict[str, Any]) -> None:
        namespace, name = object_key(obj)
        metadata = obj.get("metadata") or {}
        if carries_legacy_marks(metadata):
            task = asyncio.get_running_loop().create_task(self._release(metadata))
            self._releasing.add(task)
            task.add_done_callback(self._releasing.discard)
        if metadata.get("deletionTimestamp"):
            # The Secret's owner reference lets the garbage collector delete it.
            self._fleet.forget_binding(namespace, name)
        else:
            self._fleet.saw_binding(namespace, name, obj)

    def gone(self, obj: dict[str, Any]) -> None:
        self._fleet.forget_binding(*object_key(obj))

    def listed(self, scope: Scope, keys: Set[ObjectKey], version: str) -> None:
        self._fleet.retain(scope.covers, keys)


class SecretFeed:
    """The operator's Secrets, to the cache. A Secret changed by someone else (a version newer
    than the one our own write left in the cache), or gone from the watch (deleted, or its
    label removed), wakes its binding, which puts back what it has to."""

    def __init__(self, cache: SecretCache, wake: Callable[[ObjectKey], None]) -> None:
        self._cache = cache
        self._wake = wake

    @staticmethod
    def trim(obj: dict[str, Any]) -> SeenSecret:
        return SeenSecret(*object_key(obj), cached_secret(obj))

    def saw(self, seen: SeenSecret) -> None:
        if self._cache.saw(seen.namespace, seen.name, seen.secret):
            self._wake_owner(seen)

    def gone(self, seen: SeenSecret) -> None:
        self._cache.gone(seen.namespace, seen.name, seen.secret.resource_version)
        self._wake_owner(seen)

    def listed(self, scope: Scope, keys: Set[ObjectKey], version: str) -> None:
        self._cache.retain(scope.covers, keys, version)

    def _wake_owner(self, seen: SeenSecret) -> None:
        if seen.secret.owner is not None:
            self._wake((seen.namespace, seen.secret.owner))
