"""A wait for an event ends when it is set, when its time is up, and when it is cancelled."""

from __future__ import annotations

import asyncio

import pytest

from external_identity.waits import wait_set


async def test_a_set_event_ends_the_wait_at_once() -> None:
    event = asyncio.Event()
    event.set()
    assert await wait_set(event, None) is True


async def test_the_wait_ends_when_its_time_is_up() -> None:
    assert await wait_set(asyncio.Event(), 0.01) is False


async def test_a_cancellation_arriving_as_the_event_is_set_is_not_lost() -> None:
    """What ``asyncio.wait_for`` gets wrong on 3.11: the loop around the wait never ends."""
    event = asyncio.Event()

    async def waiting_for_ever() -> None:
        while True:
            await wait_set(event, 10)
            event.clear()

    task = asyncio.create_task(waiting_for_ever())
    await asyncio.sleep(0)  # the task waits on the event
    event.set()
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        async with asyncio.timeout(5):
            await task
