"""A bounded map whose entries expire: least recently used beyond ``max_entries`` go, and so do
entries not used for ``idle_seconds``. Pure data structure; the caller closes what it hands back.
"""

from __future__ import annotations

import time
from collections import OrderedDict
from collections.abc import Callable
from typing import Generic, TypeVar

__all__ = ["ExpiringCache"]

K = TypeVar("K")
V = TypeVar("V")


class ExpiringCache(Generic[K, V]):
    """Not thread-safe: used from one event loop."""

    def __init__(
        self,
        *,
        max_entries: int,
        idle_seconds: float,
        monotonic: Callable[[], float] = time.monotonic,
    ) -> None:
        if max_entries < 1:
            raise ValueError("max_entries must be at least 1")
        self._max = max_entries
        self._idle = idle_seconds
        self._monotonic = monotonic
        self._entries: OrderedDict[K, tuple[V, float]] = OrderedDict()

    def __len__(self) -> int:
        return len(self._entries)

    def get(self, key: K) -> V | None:
        """The value, if present and used within ``idle_seconds``; using it renews it."""
        entry = self._entries.get(key)
        if entry is None or self._monotonic() - entry[1] > self._idle:
            return None
        self._entries[key] = (entry[0], self._monotonic())
        self._entries.move_to_end(key)
        return entry[0]

    def put(self, key: K, value: V) -> list[V]:
        """Store ``value``; return what this pushed out (a value it replaced, expired entries
        and the least recently used beyond the bound)."""
        gone = self.sweep()
        previous = self._entries.pop(key, None)
        if previous is not None and previous[0] is not value:
            gone.append(previous[0])
        self._entries[key] = (value, self._monotonic())
        while len(self._entries) > self._max:
            gone.append(self._entries.popitem(last=False)[1][0])
        return gone

    def sweep(self) -> list[V]:
        """Remove and return the entries idle for longer than ``idle_seconds``."""
        now = self._monotonic()
        stale = [key for key, (_, used) in self._entries.items() if now - used > self._idle]
        return [self._entries.pop(key)[0] for key in stale]

    def pop_where(self, predicate: Callable[[K], bool]) -> list[V]:
        """Remove and return every entry whose key matches."""
        keys = [key for key in self._entries if predicate(key)]
        return [self._entries.pop(key)[0] for key in keys]

    def clear(self) -> list[V]:
        values = [value for value, _ in self._entries.values()]
        self._entries.clear()
        return values
