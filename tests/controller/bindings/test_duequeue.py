"""The fleet's queue: the most urgent due binding first, one worker per binding at a time."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Hashable

from external_identity.controller.bindings.duequeue import NO_TOKEN, DueQueue


async def _take_all(queue: DueQueue, count: int) -> list[Hashable]:
    taken = []
    for _ in range(count):
        key = await asyncio.wait_for(queue.take(), 5)
        taken.append(key)
        queue.done(key, delay=None)
    return taken


def test_the_token_that_expires_first_is_refreshed_first() -> None:
    async def scenario() -> list[Hashable]:
        queue = DueQueue()
        queue.schedule("late", delay=0, urgency=3000.0)
        queue.schedule("soon", delay=0, urgency=1000.0)
        queue.schedule("middle", delay=0, urgency=2000.0)
        return await _take_all(queue, 3)

    assert asyncio.run(scenario()) == ["soon", "middle", "late"]


def test_a_binding_without_a_token_goes_before_refreshes_newest_first() -> None:
    async def scenario() -> list[Hashable]:
        queue = DueQueue()
        queue.schedule("refresh", delay=0, urgency=1000.0)
        queue.schedule("older-new", delay=0, urgency=NO_TOKEN)
        queue.schedule("newest", delay=0)
        return await _take_all(queue, 3)

    assert asyncio.run(scenario()) == ["newest", "older-new", "refresh"]


def test_a_binding_is_not_handed_out_before_it_is_due() -> None:
    async def scenario() -> list[Hashable]:
        queue = DueQueue()
        queue.schedule("later", delay=0.2, urgency=NO_TOKEN)
        queue.schedule("now", delay=0, urgency=5000.0)
        return await _take_all(queue, 2)

    assert asyncio.run(scenario()) == ["now", "later"]


def test_a_busy_binding_woken_runs_once_more_after_its_work() -> None:
    async def scenario() -> tuple[Hashable, bool, Hashable]:
        queue = DueQueue()
        queue.schedule("a", delay=0)
        first = await queue.take()
        queue.wake("a")
        queue.wake("a")
        handed_out_twice = True
        try:
            await asyncio.wait_for(queue.take(), 0.1)
        except TimeoutError:
            handed_out_twice = False
        queue.done("a", delay=3600)
        again = await asyncio.wait_for(queue.take(), 5)
        return first, handed_out_twice, again

    first, handed_out_twice, again = asyncio.run(scenario())
    assert first == again == "a"
    assert not handed_out_twice


def test_rescheduling_replaces_the_earlier_plan_and_removing_drops_it() -> None:
    async def scenario() -> list[Hashable]:
        queue = DueQueue()
        queue.schedule("moved", delay=0)
        queue.schedule("moved", delay=3600)
        queue.schedule("removed", delay=0)
        queue.remove("removed")
        queue.schedule("kept", delay=0)
        taken = await _take_all(queue, 1)
        with contextlib.suppress(TimeoutError):
            taken.append(await asyncio.wait_for(queue.take(), 0.2))
        return taken

    assert asyncio.run(scenario()) == ["kept"]
