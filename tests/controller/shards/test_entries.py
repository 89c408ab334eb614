"""Entries in status.operators: read, judged live, ranked, and totalled."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from external_identity.controller.shards.entries import (
    PRINCIPAL_MAX,
    OperatorEntry,
    read_entries,
    totals,
)
from external_identity.controller.shards.scopes import OperatorScope

NOW = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)
STALE_AFTER = timedelta(minutes=3)


def body(**fields: Any) -> dict[str, Any]:
    return {"since": "2026-03-01T11:00:00Z", "heartbeat": "2026-03-01T11:59:00Z", **fields}


def test_entries_are_read_with_their_scope_counts_and_times() -> None:
    entries = read_entries({"operators": {"ops/a": body(
        namespaces=["team-*"], bindingSelector="shard=a", bindings=3, readyBindings=2,
        principal="arn:1")}})
    entry = entries["ops/a"]
    assert entry.scope == OperatorScope(("team-*",), "shard=a")
    assert (entry.bindings, entry.ready_bindings, entry.principal) == (3, 2, "arn:1")
    assert entry.since == datetime(2026, 3, 1, 11, 0, tzinfo=UTC)


def test_a_malformed_entry_reads_as_stale_and_no_map_as_none() -> None:
    entries = read_entries({"operators": {"ops/a": {"heartbeat": "yesterday", "bindings": True}}})
    assert not entries["ops/a"].live(now=NOW, stale_after=STALE_AFTER)
    assert entries["ops/a"].bindings is None
    assert read_entries({"operators": ["ops/a"]}) == {}
    assert read_entries({}) == {}


def test_an_entry_is_live_until_three_minutes_after_its_heartbeat() -> None:
    entry = read_entries({"operators": {"ops/a": body()}})["ops/a"]
    assert entry.live(now=NOW + timedelta(minutes=2), stale_after=STALE_AFTER)
    assert not entry.live(now=NOW + timedelta(minutes=2, seconds=1), stale_after=STALE_AFTER)
    assert entry.stale_at(STALE_AFTER) == datetime(2026, 3, 1, 12, 2, tzinfo=UTC)


def test_the_earlier_registration_ranks_first_then_the_smaller_name() -> None:
    entries = read_entries({"operators": {
        "ops/b": body(since="2026-03-01T10:00:00Z"),
        "ops/a": body(since="2026-03-01T11:00:00Z"),
        "ops/c": body(since="2026-03-01T10:00:00Z"),
        "ops/d": body(since=None),
    }})
    ranked = sorted(entries.values(), key=OperatorEntry.rank)
    assert [entry.name for entry in ranked] == ["ops/b", "ops/c", "ops/a", "ops/d"]
    assert entries["ops/b"].outranks(entries["ops/c"])


def test_an_entry_as_written_nulls_what_it_lacks_so_an_older_value_goes() -> None:
    entry = OperatorEntry(name="ops/a", scope=OperatorScope(), since=NOW, heartbeat=NOW)
    assert entry.as_status() == {
        "namespaces": [], "bindingSelector": None, "since": "2026-03-01T12:00:00Z",
        "heartbeat": "2026-03-01T12:00:00Z", "bindings": None, "readyBindings": None,
        "principal": None,
    }
    assert read_entries({"operators": {"ops/a": entry.as_status()}})["ops/a"] == entry


def test_the_totals_sum_counts_and_join_principals_that_differ() -> None:
    def entry(name: str, bindings: int | None, principal: str | None) -> OperatorEntry:
        return OperatorEntry(name=name, scope=OperatorScope(), since=NOW, heartbeat=NOW,
                             bindings=bindings, ready_bindings=bindings, principal=principal)

    assert totals([entry("a", 2, "arn:1"), entry("b", 3, "arn:1"), entry("c", None, None)]) == {
        "bindings": 5, "readyBindings": 5, "principal": "arn:1"}
    assert totals([entry("a", 1, "arn:2"), entry("b", 1, "arn:1")])["principal"] == (
        "arn:1, arn:2")
    assert totals([]) == {"bindings": 0, "readyBindings": 0, "principal": None}
    many = totals([entry(str(n), 0, f"arn:{n:0>300}") for n in range(10)])["principal"]
    assert len(many) == PRINCIPAL_MAX and many.endswith("...")
