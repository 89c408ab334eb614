"""The ExternalIdentities as last listed or watched: what bindings decide with."""

from __future__ import annotations

import copy
from collections.abc import Mapping
from typing import Any

__all__ = ["IdentityCache"]

#: The status fields the operator itself keeps on an identity.
KEPT_STATUS = ("bindings", "readyBindings", "principal", "operators")


class IdentityCache:
    def __init__(self) -> None:
        #: name -> {"spec", "status": {bindings, readyBindings, principal, operators},
        #: "conditions", "generation"}
        self._identities: dict[str, dict[str, Any]] = {}
        self._generations: dict[str, int | None] = {}

    def __contains__(self, name: str) -> bool:
        return name in self._identities

    def get(self, name: str) -> Mapping[str, Any] | None:
        return self._identities.get(name)

    def names(self) -> set[str]:
        return set(self._identities)

    def saw(self, body: Mapping[str, Any]) -> bool:
        """An identity as listed or watched; True if its spec changed (a new generation)."""
        metadata: Mapping[str, Any] = body.get("metadata") or {}
        name = str(metadata.get("name"))
        status: Mapping[str, Any] = body.get("status") or {}
        generation = metadata.get("generation")
        self._identities[name] = {
            "spec": copy.deepcopy(dict(body.get("spec") or {})),
            "status": {key: status.get(key) for key in KEPT_STATUS},
            "conditions": copy.deepcopy(list(status.get("conditions") or [])),
            "generation": generation,
        }
        changed = name not in self._generations or self._generations[name] != generation
        self._generations[name] = generation
        return changed

    def gone(self, name: str) -> None:
        self._identities.pop(name, None)
        self._generations.pop(name, None)

    def clear(self) -> None:
        self._identities.clear()
        self._generations.clear()
