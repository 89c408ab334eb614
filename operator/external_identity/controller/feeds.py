"""What the informers' events mean to the operator: bindings to the fleet, Secrets to the cache."""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Coroutine, Mapping, Set
from typing import Any

from ..secretdata import CHECKSUM_ANNOTATION
from .fleet import BindingFleet
from .informers import ObjectKey
from .legacy import carries_legacy_marks
from .listing import Scope
from .resources import BINDING_KIND
from .secretcache import SecretCache, cached_secret

__all__ = ["BindingFeed", "SecretFeed"]


def _names(obj: Mapping[str, Any]) -> tuple[str, str]:
    metadata = obj.get("metadata") or {}
    return str(metadata.get("namespace") or ""), str(metadata.get("name") or "")


class BindingFeed:
    """Bindings as listed and watched, to the fleet; legacy marks released on sight."""

    def __init__(
        self, fleet: BindingFleet,
        release: Callable[[Mapping[str, Any]], Coroutine[Any, Any, None]],
    ) -> None:
        self._fleet = fleet
        self._release = release
        self._releasing: set[asyncio.Task[None]] = set()

    def saw(self, obj: dict[str, Any]) -> None:
        namespace, name = _names(obj)
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
        self._fleet.forget_binding(*_names(obj))

    def listed(self, scope: Scope, keys: Set[ObjectKey], version: str) -> None:
        self._fleet.retain(scope.covers, keys)


class SecretFeed:
    """The operator's Secrets, to the cache; a Secret changed by someone else wakes its binding,
    which writes it back."""

    def __init__(self, cache: SecretCache, wake: Callable[[ObjectKey], None]) -> None:
        self._cache = cache
        self._wake = wake

    def saw(self, obj: dict[str, Any]) -> None:
        namespace, name = _names(obj)
        secret = cached_secret(obj)
        annotations = (obj.get("metadata") or {}).get("annotations") or {}
        if self._cache.saw(namespace, name, secret) and (
            annotations.get(CHECKSUM_ANNOTATION) is None or not secret.facts.checksum_matches
        ):
            self._wake_owner(obj)

    def gone(self, obj: dict[str, Any]) -> None:
        namespace, name = _names(obj)
        self._cache.gone(namespace, name, cached_secret(obj).resource_version)
        self._wake_owner(obj)

    def listed(self, scope: Scope, keys: Set[ObjectKey], version: str) -> None:
        self._cache.retain(scope.covers, keys, version)

    def _wake_owner(self, obj: Mapping[str, Any]) -> None:
        metadata = obj.get("metadata") or {}
        for owner in metadata.get("ownerReferences") or []:
            if owner.get("kind") == BINDING_KIND:
                self._wake((str(metadata.get("namespace") or ""), str(owner.get("name"))))
