"""Whether this operator serves a binding, from the entries in its identity's status.

An operator serves a binding only once its own entry on the binding's identity is in the cache
and its registration there settled (registration precedes minting: by then every entry written
before its own has been read too, and it ranks after each of them),
and only if no other live entry whose scope covers the binding outranks its own. A deferring
operator neither mints nor writes the binding's status; it says so once per binding, and the
binding is looked at again when the outranking entry would go stale, or at once when the
entries' names, ranks or scopes change. No I/O: it reads the identity cache.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta

from external_identity.api.resources import BINDING_KIND
from external_identity.api.times import Clock
from external_identity.controller.identities.cache import IdentityCache
from external_identity.controller.shards.entries import OperatorEntry, read_entries
from external_identity.logrefs import about

__all__ = ["SERVE", "ShardGate", "Verdict"]

log = logging.getLogger(__name__)

BindingKey = tuple[str, str]  # (namespace, name)

#: Seconds before a binding whose identity lacks this operator's entry is looked at again
#: (its entry appearing wakes it sooner).
UNREGISTERED_RECHECK_SECONDS = 5.0


@dataclass(frozen=True)
class Verdict:
    #: Seconds to wait before asking again; None: serve the binding now.
    wait: float | None = None
    #: The operator that serves it instead (when deferring).
    deferred_to: str | None = None


SERVE = Verdict()


class ShardGate:
    def __init__(
        self,
        *,
        me: str,
        identities: IdentityCache,
        clock: Clock,
        stale_after: timedelta,
        registered: Callable[[str], bool],
        shape_changed: Callable[[str], None],
    ) -> None:
        """``registered`` says whether this operator's registration on an identity is settled
        (see :meth:`..identities.status.IdentityStatuses.registered`); ``shape_changed`` is told
        an identity's name when who may serve its bindings may have changed (an entry came,
        went, or changed rank or scope, or this operator's registration settled)."""
        self._me = me
        self._registered = registered
        self._identities = identities
        self._clock = clock
        self._stale_after = stale_after
        self._shape_changed = shape_changed
        self._shapes: dict[str, frozenset[tuple[object, ...]]] = {}
        #: Binding -> the operator it defers to.
        self._deferred: dict[BindingKey, str] = {}

    def verdict(
        self, key: BindingKey, identity: str | None, labels: Mapping[str, str]
    ) -> Verdict:
        cached = self._identities.get(identity) if identity is not None else None
        if identity is None or cached is None:
            self._served(key)
            return SERVE  # a missing identity refuses the binding, whoever serves it
        now = self._clock()
        entries = read_entries(cached["status"])
        mine = entries.get(self._me)
        if (mine is None or not self._registered(identity)
                or not mine.live(now=now, stale_after=self._stale_after)):
            return Verdict(wait=UNREGISTERED_RECHECK_SECONDS)
        ahead = [entry for entry in entries.values()
                 if entry.name != self._me and entry.outranks(mine)
                 and entry.live(now=now, stale_after=self._stale_after)
                 and entry.scope.covers(key[0], labels)]
        if not ahead:
            self._served(key)
            return SERVE
        first = min(ahead, key=OperatorEntry.rank)
        if self._deferred.get(key) != first.name:
            self._deferred[key] = first.name
            log.info("%s/%s: left to operator %s, which serves it too (its scope: %s) and ranks "
                     "first (registered on ExternalIdentity %s earlier)", *key, first.name,
                     first.scope.describe(), identity, extra=about(BINDING_KIND, key[1], key[0]))
        return Verdict(wait=self._seconds_until_stale(first, now), deferred_to=first.name)

    def deferred(self) -> dict[str, int]:
        """How many bindings this operator leaves to each other operator."""
        counts: dict[str, int] = {}
        for other in self._deferred.values():
            counts[other] = counts.get(other, 0) + 1
        return counts

    def forget(self, key: BindingKey) -> None:
        self._deferred.pop(key, None)

    def seen(self, identity: str) -> None:
        """The identity was listed or watched: tell if the shape of its entries changed."""
        cached = self._identities.get(identity)
        if cached is None:
            self._shapes.pop(identity, None)
            return
        now = self._clock()
        shape = frozenset(entry.shape() for entry in read_entries(cached["status"]).values()
                          if entry.live(now=now, stale_after=self._stale_after))
        shape |= {("registered", self._registered(identity))}
        if self._shapes.get(identity) != shape:
            self._shapes[identity] = shape
            self._shape_changed(identity)

    def _served(self, key: BindingKey) -> None:
        if self._deferred.pop(key, None) is not None:
            log.info("%s/%s: served by this operator again", *key,
                     extra=about(BINDING_KIND, key[1], key[0]))

    def _seconds_until_stale(self, entry: OperatorEntry, now: datetime) -> float:
        stale_at = entry.stale_at(self._stale_after)
        assert stale_at is not None  # a live entry has a heartbeat
        return max((stale_at - now).total_seconds(), 0.0) + 1.0
