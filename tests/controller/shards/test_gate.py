"""Which bindings this operator serves, from the entries its identity cache shows."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from external_identity.controller.identities.cache import IdentityCache
from external_identity.controller.shards.gate import UNREGISTERED_RECHECK_SECONDS, ShardGate

NOW = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)
KEY = ("payments", "api")
ME = "ops/me"


def entry(since: str, *, heartbeat: str = "2026-03-01T11:59:00Z", **scope: Any) -> dict[str, Any]:
    return {"since": since, "heartbeat": heartbeat, **scope}


class World:
    def __init__(self) -> None:
        self.cache = IdentityCache()
        self.now = NOW
        self.changed: list[str] = []
        self.registered = True
        self.gate = ShardGate(me=ME, identities=self.cache, clock=lambda: self.now,
                              stale_after=timedelta(minutes=3),
                              registered=lambda name: self.registered,
                              shape_changed=self.changed.append)

    def identity(self, **operators: dict[str, Any]) -> None:
        self.cache.saw({"metadata": {"name": "prod", "generation": 1}, "spec": {},
                        "status": {"operators": {name.replace("_", "/"): body
                                                 for name, body in operators.items()}}})
        self.gate.seen("prod")


@pytest.fixture
def world() -> World:
    return World()


MINE = entry("2026-03-01T11:00:00Z")


def test_a_binding_of_an_unknown_identity_is_served(world: World) -> None:
    assert world.gate.verdict(KEY, "prod", {}).wait is None
    assert world.gate.verdict(KEY, None, {}).wait is None


def test_a_binding_waits_until_the_identity_shows_this_operators_entry(world: World) -> None:
    world.identity(ops_other=entry("2026-03-01T10:00:00Z"))
    verdict = world.gate.verdict(KEY, "prod", {})
    assert (verdict.wait, verdict.deferred_to) == (UNREGISTERED_RECHECK_SECONDS, None)
    world.identity(ops_me=MINE)
    assert world.gate.verdict(KEY, "prod", {}).wait is None


def test_a_binding_waits_until_this_operators_registration_settles_which_wakes_it(
    world: World,
) -> None:
    world.registered = False
    world.identity(ops_me=MINE)
    assert world.gate.verdict(KEY, "prod", {}).wait == UNREGISTERED_RECHECK_SECONDS
    world.registered = True
    world.identity(ops_me=MINE)
    assert world.changed == ["prod", "prod"]
    assert world.gate.verdict(KEY, "prod", {}).wait is None


def test_an_operator_whose_own_entry_went_stale_serves_nothing(world: World) -> None:
    world.identity(ops_me=MINE)
    world.now = NOW + timedelta(minutes=3)
    assert world.gate.verdict(KEY, "prod", {}).wait == UNREGISTERED_RECHECK_SECONDS


@pytest.fixture
def gate_log(caplog: pytest.LogCaptureFixture) -> Iterator[pytest.LogCaptureFixture]:
    """The gate's own lines, whatever another test in this process did to logging (the CLI
    tests configure it, and may stop ``external_identity`` propagating to the root)."""
    logger = logging.getLogger("external_identity.controller.shards.gate")
    level, propagate = logger.level, logger.propagate
    logger.addHandler(caplog.handler)
    logger.setLevel(logging.INFO)
    logger.propagate = False  # each line once, through caplog's handler
    yield caplog
    logger.removeHandler(caplog.handler)
    logger.setLevel(level)
    logger.propagate = propagate


def test_an_earlier_live_operator_covering_the_binding_serves_it_and_is_named_once(
    world: World, gate_log: pytest.LogCaptureFixture,
) -> None:
    caplog = gate_log
    world.identity(ops_me=MINE, ops_first=entry("2026-03-01T10:00:00Z", bindingSelector="shard"))
    verdict = world.gate.verdict(KEY, "prod", {"shard": "a"})
    assert verdict.deferred_to == "ops/first"
    assert verdict.wait == 121.0, "asked again a second after its entry would go stale"
    world.gate.verdict(KEY, "prod", {"shard": "a"})
    lines = [r.getMessage() for r in caplog.records if "left to operator" in r.getMessage()]
    assert lines == ["payments/api: left to operator ops/first, which serves it too (its scope: "
                     "all namespaces; bindings labelled shard) and ranks first (registered on "
                     "ExternalIdentity prod earlier)"]
    assert world.gate.deferred() == {"ops/first": 1}
    world.gate.forget(KEY)
    assert world.gate.deferred() == {}


@pytest.mark.parametrize("other", [
    entry("2026-03-01T10:00:00Z", bindingSelector="shard=b"),  # another selector
    entry("2026-03-01T10:00:00Z", namespaces=["orders"]),  # other namespaces
    entry("2026-03-01T10:00:00Z", heartbeat="2026-03-01T11:56:59Z"),  # stale
    entry("2026-03-01T11:30:00Z"),  # registered later
    entry("2026-03-01T11:00:00Z"),  # as early, but a larger name (ops/zz)
])
def test_an_operator_that_does_not_outrank_or_cover_the_binding_leaves_it_served(
    world: World, other: dict[str, Any],
) -> None:
    world.identity(ops_me=MINE, ops_zz=other)
    assert world.gate.verdict(KEY, "prod", {"shard": "a"}).wait is None


def test_the_binding_is_served_again_once_the_other_entry_goes_stale(
    world: World, gate_log: pytest.LogCaptureFixture,
) -> None:
    caplog = gate_log
    world.identity(ops_me=entry("2026-03-01T11:00:00Z", heartbeat="2026-03-01T12:05:00Z"),
                   ops_first=entry("2026-03-01T10:00:00Z"))
    assert world.gate.verdict(KEY, "prod", {}).deferred_to == "ops/first"
    world.now = NOW + timedelta(minutes=2, seconds=1)
    assert world.gate.verdict(KEY, "prod", {}).wait is None
    assert "payments/api: served by this operator again" in caplog.messages
    assert world.gate.deferred() == {}


def test_a_change_of_who_ranks_or_covers_wakes_the_identitys_bindings_a_heartbeat_does_not(
    world: World,
) -> None:
    world.identity(ops_me=MINE)
    assert world.changed == ["prod"]
    world.identity(ops_me=entry("2026-03-01T11:00:00Z", heartbeat="2026-03-01T11:59:30Z"))
    assert world.changed == ["prod"]
    world.identity(ops_me=MINE, ops_other=entry("2026-03-01T10:00:00Z"))
    world.identity(ops_me=MINE, ops_other=entry("2026-03-01T10:00:00Z", namespaces=["x"]))
    assert world.changed == ["prod", "prod", "prod"]
