"""When each binding is next due, and which due binding goes first.

One queue for every binding instead of one sleeping task each: a heap of due times, and a
heap of what is due now ordered by urgency — the binding whose token expires first goes
first, and a binding holding no token (new, or failing) goes before any that holds one, the
most recently queued first, so a new binding is not stuck behind thousands being refreshed.
A binding is handed to one worker at a time; waking it while it is being worked on runs it
again as soon as that work is done.
"""

from __future__ import annotations

import asyncio
import heapq
import itertools
import math
import time
from collections.abc import Callable, Hashable

from external_identity.waits import wait_set

__all__ = ["NO_TOKEN", "DueQueue"]

#: The urgency of a binding that holds no token: before any expiry time.
NO_TOKEN = -math.inf


class DueQueue:
    def __init__(self, *, clock: Callable[[], float] = time.monotonic) -> None:
        self._clock = clock
        self._sequence = itertools.count()
        #: (due at, ticket, key); stale entries are skipped (the key's ticket moved on).
        self._timers: list[tuple[float, int, Hashable]] = []
        #: (urgency, -ticket, ticket, key) of keys that are due.
        self._due: list[tuple[float, int, int, Hashable]] = []
        self._tickets: dict[Hashable, int] = {}
        self._urgency: dict[Hashable, float] = {}
        self._busy: set[Hashable] = set()
        self._again: set[Hashable] = set()
        self._changed = asyncio.Event()

    def __len__(self) -> int:
        return len(self._tickets)

    def __contains__(self, key: Hashable) -> bool:
        return key in self._tickets

    def schedule(self, key: Hashable, *, delay: float, urgency: float = NO_TOKEN) -> None:
        """Run ``key`` in ``delay`` seconds (replacing any earlier plan for it)."""
        ticket = next(self._sequence)
        self._tickets[key] = ticket
        self._urgency[key] = urgency
        if key in self._busy:
            if delay <= 0:
                self._again.add(key)
            return  # :meth:`done` plans its next run
        if delay <= 0:
            heapq.heappush(self._due, (urgency, -ticket, ticket, key))
        else:
            heapq.heappush(self._timers, (self._clock() + delay, ticket, key))
        self._changed.set()

    def wake(self, key: Hashable) -> None:
        """Run ``key`` now; if it is running, once more right after."""
        if key not in self._tickets:
            return
        if key in self._busy:
            self._again.add(key)
            return
        self.schedule(key, delay=0, urgency=self._urgency.get(key, NO_TOKEN))

    def remove(self, key: Hashable) -> None:
        self._tickets.pop(key, None)
        self._urgency.pop(key, None)
        self._again.discard(key)

    def clear(self) -> None:
        self._timers.clear()
        self._due.clear()
        self._tickets.clear()
        self._urgency.clear()
        self._again.clear()

    async def take(self) -> Hashable:
        """The most urgent due key, waiting until one is due; it is busy until :meth:`done`."""
        while True:
            self._release_timers()
            while self._due:
                _, _, ticket, key = heapq.heappop(self._due)
                if self._tickets.get(key) == ticket and key not in self._busy:
                    self._busy.add(key)
                    return key
            self._changed.clear()
            timeout = self._timers[0][0] - self._clock() if self._timers else None
            await wait_set(self._changed, timeout)

    def done(self, key: Hashable, *, delay: float | None, urgency: float = NO_TOKEN) -> None:
        """``key``'s work is finished; run it again in ``delay`` s (None: only when woken)."""
        self._busy.discard(key)
        if key not in self._tickets:
            return
        if key in self._again:
            self._again.discard(key)
            delay = 0
        if delay is None:
            self._urgency[key] = urgency
            self._tickets[key] = next(self._sequence)  # no plan: a wake-up schedules it
            return
        self.schedule(key, delay=delay, urgency=urgency)

    def _release_timers(self) -> None:
        now = self._clock()
        while self._timers and self._timers[0][0] <= now:
            _, ticket, key = heapq.heappop(self._timers)
            if self._tickets.get(key) == ticket and key not in self._busy:
                heapq.heappush(self._due, (self._urgency.get(key, NO_TOKEN), -ticket, ticket, key))
