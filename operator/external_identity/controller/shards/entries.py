"""Each operator's entry in an identity's ``status.operators``: read, judged live or stale,
ranked, and summed into the identity's top-level ``bindings``, ``readyBindings`` and
``principal``. Pure.

``status.operators`` is a map keyed by operator name, so a JSON merge patch of one entry
leaves the others alone. An entry whose ``heartbeat`` is older than the staleness bound belongs
to an operator that stopped: it counts for nothing and the next operator that writes removes
it. Among live entries the earliest ``since`` (then the smaller name) ranks first.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from external_identity.api.times import parse_rfc3339, rfc3339
from external_identity.controller.shards.scopes import OperatorScope

__all__ = ["PRINCIPAL_MAX", "OperatorEntry", "read_entries", "totals"]

#: The identity's ``status.principal`` holds at most this many characters (the CRD's bound).
PRINCIPAL_MAX = 2048


@dataclass(frozen=True)
class OperatorEntry:
    name: str
    scope: OperatorScope
    since: datetime | None
    heartbeat: datetime | None
    bindings: int | None = None
    ready_bindings: int | None = None
    principal: str | None = None

    def live(self, *, now: datetime, stale_after: timedelta) -> bool:
        return self.heartbeat is not None and now - self.heartbeat <= stale_after

    def stale_at(self, stale_after: timedelta) -> datetime | None:
        """When this entry goes stale unless its heartbeat is written again."""
        return None if self.heartbeat is None else self.heartbeat + stale_after

    def rank(self) -> tuple[str, str]:
        """Lower ranks first: registered earlier, then the smaller name."""
        since = rfc3339(self.since) if self.since is not None else "~"  # after every date
        return (since, self.name)

    def outranks(self, other: OperatorEntry) -> bool:
        return self.rank() < other.rank()

    def shape(self) -> tuple[Any, ...]:
        """What decides who serves what: name, rank and scope (not counts or heartbeat)."""
        return (self.name, self.rank(), self.scope)

    def as_status(self) -> dict[str, Any]:
        """The entry as merge-patched into ``status.operators[name]``: a field it lacks is
        null, so what an earlier run of the operator wrote there goes."""
        status: dict[str, Any] = {
            "namespaces": list(self.scope.namespaces),
            "bindingSelector": self.scope.binding_selector,
            "since": rfc3339(self.since) if self.since is not None else None,
            "heartbeat": rfc3339(self.heartbeat) if self.heartbeat is not None else None,
            "bindings": self.bindings,
            "readyBindings": self.ready_bindings,
            "principal": self.principal,
        }
        return status


def read_entries(status: Mapping[str, Any]) -> dict[str, OperatorEntry]:
    """The entries of an identity's ``status``; a malformed one reads as stale (no heartbeat)."""
    operators = status.get("operators")
    if not isinstance(operators, Mapping):
        return {}
    return {str(name): _entry(str(name), body) for name, body in operators.items()
            if isinstance(body, Mapping)}


def _entry(name: str, body: Mapping[str, Any]) -> OperatorEntry:
    namespaces = body.get("namespaces")
    selector = body.get("bindingSelector")
    return OperatorEntry(
        name=name,
        scope=OperatorScope(
            namespaces=tuple(str(ns) for ns in namespaces) if isinstance(namespaces, list) else (),
            binding_selector=selector if isinstance(selector, str) and selector else None,
        ),
        since=_moment(body.get("since")),
        heartbeat=_moment(body.get("heartbeat")),
        bindings=_count(body.get("bindings")),
        ready_bindings=_count(body.get("readyBindings")),
        principal=body.get("principal") if isinstance(body.get("principal"), str) else None,
    )


def _moment(value: Any) -> datetime | None:
    return parse_rfc3339(value) if isinstance(value, str) else None


def _count(value: Any) -> int | None:
    return value if isinstance(value, int) and not isinstance(value, bool) else None


def totals(entries: Iterable[OperatorEntry]) -> dict[str, Any]:
    """The identity's top-level fields over (live) ``entries``: counts summed; the principal
    if they all agree, else the distinct ones joined (None when none is known)."""
    listed = list(entries)
    principals = sorted({entry.principal for entry in listed if entry.principal})
    principal = ", ".join(principals) if principals else None
    if principal is not None and len(principal) > PRINCIPAL_MAX:
        principal = principal[: PRINCIPAL_MAX - 3] + "..."
    return {
        "bindings": sum(entry.bindings or 0 for entry in listed),
        "readyBindings": sum(entry.ready_bindings or 0 for entry in listed),
        "principal": principal,
    }
