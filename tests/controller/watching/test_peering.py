"""kopf's peering rule, as the fleet applies it: stand by while a live peer outranks or ties."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from external_identity.controller.watching.peering import (
    LIFETIME,
    Peering,
    acting,
    clusterwide_peering,
)

NOW = datetime(2026, 12, 2, 12, 0, tzinfo=UTC)
ME = Peering(name="external-identity", priority=10, identity="me")


def _peer(priority: int, *, seen_ago: float = 1, lifetime: int = 60) -> dict[str, object]:
    lastseen = (NOW - timedelta(seconds=seen_ago)).isoformat()
    return {"priority": priority, "lifetime": lifetime, "lastseen": lastseen}


def test_alone_or_above_every_live_peer_this_replica_acts() -> None:
    assert acting({}, ME, now=NOW)
    assert acting({"me": _peer(10)}, ME, now=NOW)
    assert acting({"me": _peer(10), "other": _peer(9)}, ME, now=NOW)


def test_a_live_peer_with_a_higher_or_the_same_priority_makes_it_stand_by() -> None:
    assert not acting({"me": _peer(10), "other": _peer(11)}, ME, now=NOW)
    assert not acting({"me": _peer(10), "other": _peer(10)}, ME, now=NOW)


def test_a_peer_not_seen_within_its_lifetime_is_dead_and_does_not_count() -> None:
    assert acting({"other": _peer(99, seen_ago=61, lifetime=60)}, ME, now=NOW)
    assert not acting({"other": _peer(99, seen_ago=59, lifetime=60)}, ME, now=NOW)


def test_replicas_peer_cluster_wide_unless_every_namespace_is_named() -> None:
    assert clusterwide_peering(())
    assert clusterwide_peering(("team-*",))
    assert clusterwide_peering(("payments", "!sandbox"))
    assert clusterwide_peering(("team-[ab]",))
    assert not clusterwide_peering(("payments", "orders"))


def test_a_replica_killed_without_a_goodbye_is_dead_to_the_gate_within_its_lifetime() -> None:
    assert LIFETIME <= 15
    assert not acting({"other": _peer(99, seen_ago=LIFETIME - 1, lifetime=LIFETIME)}, ME, now=NOW)
    assert acting({"other": _peer(99, seen_ago=LIFETIME, lifetime=LIFETIME)}, ME, now=NOW)
