"""Waiting for an event with a timeout, without losing a cancellation."""

from __future__ import annotations

import asyncio
import contextlib

__all__ = ["wait_set"]


async def wait_set(event: asyncio.Event, seconds: float | None) -> bool:
    """Wait until ``event`` is set or ``seconds`` pass (None: no limit); whether it is set.

    Not ``asyncio.wait_for``: on Python 3.11 it returns normally when it is cancelled just as
    the event is set, so the cancellation is lost, and a loop around it never ends.
    """
    with contextlib.suppress(TimeoutError):
        async with asyncio.timeout(seconds):
            await event.wait()
    return event.is_set()
