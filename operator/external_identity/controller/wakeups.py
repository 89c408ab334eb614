"""Lets event handlers wake a sleeping binding daemon early. In-memory only."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Awaitable
from typing import Any

__all__ = ["BindingKey", "Wakeups"]

BindingKey = tuple[str, str]  # (namespace, name)


class Wakeups:
    def __init__(self) -> None:
        self._events: dict[BindingKey, asyncio.Event] = {}
        #: The generation each daemon last started a step with.
        self._seen: dict[BindingKey, int | None] = {}

    def register(self, key: BindingKey) -> asyncio.Event:
        event = self._events[key] = asyncio.Event()
        return event

    def unregister(self, key: BindingKey, event: asyncio.Event) -> None:
        if self._events.get(key) is event:
            del self._events[key]
            self._seen.pop(key, None)

    def saw(self, key: BindingKey, generation: int | None) -> None:
        """The daemon is about to act on this generation of the spec."""
        self._seen[key] = generation

    def wake_for(self, key: BindingKey, generation: int | None) -> None:
        """Wake the daemon if it has not acted on this generation yet."""
        if key not in self._seen or self._seen[key] != generation:
            self.wake(key)

    def wake(self, key: BindingKey) -> None:
        event = self._events.get(key)
        if event is not None:
            event.set()

    @staticmethod
    async def sleep(
        event: asyncio.Event, seconds: float, *, until: Awaitable[object] | None = None
    ) -> None:
        """Sleep ``seconds``, or until woken or ``until`` completes; then re-arm."""
        waiters: list[asyncio.Future[Any]] = [asyncio.ensure_future(event.wait())]
        if until is not None:
            waiters.append(asyncio.ensure_future(until))
        try:
            await asyncio.wait(waiters, timeout=seconds, return_when=asyncio.FIRST_COMPLETED)
        finally:
            for waiter in waiters:
                waiter.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await asyncio.gather(*waiters, return_exceptions=True)
        event.clear()
