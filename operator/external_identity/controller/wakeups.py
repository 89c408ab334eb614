"""Lets event handlers wake a sleeping binding daemon early. In-memory only."""

from __future__ import annotations

import asyncio
import contextlib

__all__ = ["BindingKey", "Wakeups"]

BindingKey = tuple[str, str]  # (namespace, name)


class Wakeups:
    def __init__(self) -> None:
        self._events: dict[BindingKey, asyncio.Event] = {}

    def register(self, key: BindingKey) -> asyncio.Event:
        event = self._events[key] = asyncio.Event()
        return event

    def unregister(self, key: BindingKey, event: asyncio.Event) -> None:
        if self._events.get(key) is event:
            del self._events[key]

    def wake(self, key: BindingKey) -> None:
        event = self._events.get(key)
        if event is not None:
            event.set()

    @staticmethod
    async def sleep(event: asyncio.Event, seconds: float) -> None:
        """Sleep ``seconds`` or until woken, whichever comes first; then re-arm."""
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(event.wait(), timeout=seconds)
        event.clear()
