"""ExternalIdentity status: its Ready condition (pure), and this operator's entry with the
totals, written once per change (the writer is a recorder passed in, or the real one on the
emulator)."""

from __future__ import annotations

import asyncio
from collections.abc import Mapping
from datetime import UTC, datetime, timedelta
from typing import Any, cast

from support.kube.fixtures import KubeAPI

from external_identity.api import conditions
from external_identity.controller.identities.cache import IdentityCache
from external_identity.controller.identities.status import IdentityStatuses, identity_readiness
from external_identity.controller.shards.scopes import OperatorScope
from external_identity.controller.statuses import StatusWriter
from external_identity.errors import StatusWriteError

NOW = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)
#: Lists an account, as an identity with the operator's own credentials must to be usable.
AWS = {"provider": "aws-iam", "serviceAccounts": [{"id": "0f1a2b3c-4d5e-6789-abcd-ef0123456789"}]}
PER_WORKLOAD = {"provider": "aws-iam", "credentials": {"source": "ServiceAccount"}}


def ready(patch: Mapping[str, Any]) -> dict[str, Any]:
    [condition] = [c for c in patch["conditions"] if c["type"] == conditions.READY]
    return dict(condition)


# -- the Ready condition ---------------------------------------------------------------------------


def test_a_usable_spec_is_ready_at_its_generation() -> None:
    patch = identity_readiness(AWS, {}, generation=4, now=NOW)
    assert patch["observedGeneration"] == 4
    assert ready(patch) == {
        "type": "Ready", "status": "True", "reason": conditions.VALID,
        "message": "spec is valid", "lastTransitionTime": "2026-03-01T12:00:00Z",
        "observedGeneration": 4,
    }


def test_an_unusable_spec_is_not_ready_saying_why() -> None:
    condition = ready(identity_readiness({"provider": "aws-iam", "defaultTTL": 10, "maxTTL": 5},
                                         {}, generation=1, now=NOW))
    assert (condition["status"], condition["reason"]) == ("False", conditions.INVALID_SPEC)
    assert condition["message"] == "spec: defaultTTL must not exceed maxTTL"


def test_credentials_the_operator_cannot_use_make_it_not_ready_naming_the_problem() -> None:
    condition = ready(identity_readiness(AWS, {}, generation=1, now=NOW,
                                         credentials_problem="no AWS credentials found"))
    assert (condition["status"], condition["reason"]) == (
        "False", conditions.CREDENTIALS_UNAVAILABLE)
    assert condition["message"] == (
        "the operator's own credentials cannot prove who it is: no AWS credentials found")


def test_the_operators_own_credentials_without_accounts_listed_are_not_ready_saying_how() -> None:
    condition = ready(identity_readiness({"provider": "aws-iam"}, {}, generation=1, now=NOW,
                                         credentials_problem="no AWS credentials found"))
    assert (condition["status"], condition["reason"]) == (
        "False", conditions.SERVICE_ACCOUNT_NOT_ALLOWED)
    assert condition["message"].startswith(
        "no binding can get a token until spec.serviceAccounts lists the Phase service accounts")
    assert "e.g. serviceAccounts: [{id: " in condition["message"]


def test_per_workload_credentials_are_ready_without_accounts_listed() -> None:
    condition = ready(identity_readiness(PER_WORKLOAD, {}, generation=1, now=NOW))
    assert (condition["status"], condition["reason"]) == ("True", conditions.VALID)


def test_per_workload_credentials_are_ready_whatever_the_operators_own_say() -> None:
    condition = ready(identity_readiness(PER_WORKLOAD, {}, generation=1, now=NOW,
                                         credentials_problem="no AWS credentials found"))
    assert (condition["status"], condition["reason"]) == ("True", conditions.VALID)
    assert "each binding exchanges its own ServiceAccount" in condition["message"]


def test_other_conditions_stay_and_an_unchanged_status_keeps_its_transition_time() -> None:
    other = {"type": "Other", "status": "True"}
    first = identity_readiness(AWS, {}, generation=1, now=NOW)
    later = identity_readiness(AWS, {"conditions": [other, *first["conditions"]]}, generation=2,
                               now=NOW + timedelta(hours=1))
    assert other in later["conditions"]
    assert ready(later)["lastTransitionTime"] == "2026-03-01T12:00:00Z"
    assert ready(later)["observedGeneration"] == 2


# -- this operator's entry, and the totals ---------------------------------------------------------


class Writes:
    """Stands in for the StatusWriter: records patches; refuses the first ``failures``."""

    def __init__(self, failures: int = 0) -> None:
        self.patches: list[tuple[str, dict[str, Any]]] = []
        self.failures = failures
        self.written = asyncio.Event()

    async def patch_identity(self, *, name: str, status: Mapping[str, Any]) -> None:
        if self.failures:
            self.failures -= 1
            raise StatusWriteError(f"cannot update status of ExternalIdentity {name}: HTTP 500")
        self.patches.append((name, dict(status)))
        self.written.set()


ME = "ops/me"
SCOPE = OperatorScope(("team-*",), "shard=a")
COUNTS = {"prod-aws": {"bindings": 3, "readyBindings": 2}}
AT = "2026-03-01T12:00:00Z"


def mine(**fields: Any) -> dict[str, Any]:
    """Our entry as written at NOW, with these fields."""
    return {"namespaces": ["team-*"], "bindingSelector": "shard=a", "since": AT, "heartbeat": AT,
            "bindings": None, "readyBindings": None, "principal": None, **fields}


class World:
    def __init__(self, *identities: str, failures: int = 0, heartbeat: float = 60) -> None:
        self.writes = Writes(failures)
        self.cache = IdentityCache()
        self.now = NOW
        for name in identities:
            self.identity(name)
        self.kept = IdentityStatuses(
            cast(StatusWriter, self.writes), identities=self.cache, me=ME, scope=SCOPE,
            clock=lambda: self.now, heartbeat_seconds=heartbeat, settle_seconds=0,
            retry_seconds=0,
        )

    def identity(self, name: str, **status: Any) -> None:
        self.cache.saw({"metadata": {"name": name, "generation": 1}, "spec": AWS,
                        "status": status})

    async def settled(self) -> None:
        """Let the writing task run to its end (no timers: settle and retry are zero)."""
        for _ in range(20):
            await asyncio.sleep(0)
        await self.kept.close()


async def test_acting_registers_on_every_identity_at_once_with_its_scope() -> None:
    world = World("prod-aws", "idle")
    world.kept.start()
    await world.settled()
    assert world.writes.patches == [
        ("idle", {"operators": {ME: mine()}, "bindings": 0, "readyBindings": 0}),
        ("prod-aws", {"operators": {ME: mine()}, "bindings": 0, "readyBindings": 0}),
    ]


async def test_the_counts_go_into_the_entry_and_the_totals_once_the_list_is_whole() -> None:
    world = World("prod-aws", "idle")
    world.kept.start()
    world.kept.stale(counts=lambda: COUNTS)
    await world.settled()
    assert world.writes.patches == [
        ("idle", {"operators": {ME: mine(bindings=0, readyBindings=0)},
                  "bindings": 0, "readyBindings": 0}),
        ("prod-aws", {"operators": {ME: mine(bindings=3, readyBindings=2)},
                      "bindings": 3, "readyBindings": 2}),
    ]


async def test_a_burst_of_changes_is_one_write_per_identity() -> None:
    world = World("prod-aws")
    world.kept.start()
    for _ in range(100):
        world.kept.stale(counts=lambda: COUNTS)
    await world.settled()
    assert len(world.writes.patches) == 1


async def test_other_live_entries_are_summed_and_stale_ones_removed() -> None:
    other = {"since": "2026-03-01T10:00:00Z", "heartbeat": "2026-03-01T11:59:00Z",
             "bindings": 4, "readyBindings": 4, "principal": "arn:other"}
    gone = {**other, "heartbeat": "2026-03-01T11:56:59Z"}
    world = World()
    world.identity("prod-aws", operators={"ops/other": other, "ops/gone": gone}, bindings=9)
    world.kept.start()
    world.kept.stale(counts=lambda: COUNTS)
    world.kept.saw_principal("prod-aws", "arn:me")
    await world.settled()
    assert world.writes.patches == [("prod-aws", {
        "operators": {ME: mine(bindings=3, readyBindings=2, principal="arn:me"),
                      "ops/gone": None},
        "bindings": 7, "readyBindings": 6, "principal": "arn:me, arn:other",
    })]


async def test_a_restart_keeps_the_rank_and_counts_of_its_live_entry() -> None:
    earlier = mine(since="2026-03-01T09:00:00Z", heartbeat="2026-03-01T11:58:00Z", bindings=3,
                   readyBindings=2, principal="arn:me")
    world = World()
    world.identity("prod-aws", operators={ME: earlier}, bindings=3, readyBindings=2,
                   principal="arn:me")
    world.kept.start()
    await world.settled()
    assert world.writes.patches == [("prod-aws", {"operators": {ME: {
        **earlier, "heartbeat": AT}}})], "the totals stand: nothing to write but the heartbeat"


async def test_a_stale_entry_of_its_own_is_no_rank_to_keep() -> None:
    world = World()
    world.identity("prod-aws", operators={ME: mine(since="2026-03-01T09:00:00Z",
                                                   heartbeat="2026-03-01T11:56:00Z")})
    world.kept.start()
    await world.settled()
    assert world.writes.patches[0][1]["operators"][ME]["since"] == AT


async def test_a_registration_is_settled_once_seen_ranking_after_every_earlier_entry() -> None:
    world = World("prod-aws")
    world.kept.start()
    await world.settled()
    assert not world.kept.registered("prod-aws")
    world.identity("prod-aws", **world.writes.patches[0][1])
    world.kept.seen("prod-aws")
    assert world.kept.registered("prod-aws")


async def test_an_entry_written_just_before_ours_but_ranking_after_it_makes_ours_rank_later(
) -> None:
    # ops/b read its clock after us (or as we did: the larger name ranks after), but its
    # write landed first: it may serve already, so we must rank after it.
    first = {"since": AT, "heartbeat": AT}
    world = World("prod-aws")
    world.kept.start()
    await world.settled()
    world.identity("prod-aws", operators={"ops/z": first, ME: mine()})
    world.kept.seen("prod-aws")
    assert not world.kept.registered("prod-aws")
    await world.settled()
    rewritten = world.writes.patches[1][1]["operators"][ME]
    assert rewritten["since"] == "2026-03-01T12:00:01Z"
    world.identity("prod-aws", operators={"ops/z": first, ME: rewritten})
    world.kept.seen("prod-aws")
    assert world.kept.registered("prod-aws")


async def test_a_rank_kept_from_the_last_run_is_not_given_up_to_later_entries() -> None:
    earlier = mine(since="2026-03-01T09:00:00Z", heartbeat="2026-03-01T11:58:00Z")
    later = {"since": "2026-03-01T10:00:00Z", "heartbeat": AT}
    world = World()
    world.identity("prod-aws", operators={ME: earlier, "ops/z": later})
    world.kept.start()
    await world.settled()
    world.identity("prod-aws", operators={ME: {**earlier, "heartbeat": AT}, "ops/z": later})
    world.kept.seen("prod-aws")
    assert world.kept.registered("prod-aws")


async def test_only_what_changed_is_written_again() -> None:
    world = World("prod-aws")
    world.kept.start()
    world.kept.stale(counts=lambda: COUNTS)
    await world.settled()
    world.identity("prod-aws", **world.writes.patches[0][1])  # the write, as watched
    world.kept.stale(counts=lambda: COUNTS)
    await world.settled()
    assert len(world.writes.patches) == 1
    world.kept.stale(counts=lambda: {"prod-aws": {"bindings": 3, "readyBindings": 3}})
    await world.settled()
    assert world.writes.patches[1] == ("prod-aws", {
        "operators": {ME: mine(bindings=3, readyBindings=3)}, "readyBindings": 3})


async def test_totals_written_are_not_repeated_before_the_watch_shows_them() -> None:
    world = World("prod-aws")
    world.kept.start()
    world.kept.stale(counts=lambda: COUNTS)
    await world.settled()
    world.kept.saw_principal("prod-aws", "arn:me")
    await world.settled()
    assert world.writes.patches[1] == ("prod-aws", {
        "operators": {ME: mine(bindings=3, readyBindings=2, principal="arn:me")},
        "principal": "arn:me"})


async def test_the_heartbeat_is_rewritten_every_interval() -> None:
    world = World("prod-aws", heartbeat=0.01)
    world.kept.start()
    for _ in range(500):
        await asyncio.sleep(0.002)
        if len(world.writes.patches) == 2:
            break
        world.now = NOW + timedelta(seconds=30)
    await world.kept.close()
    assert world.writes.patches[1] == ("prod-aws", {"operators": {ME: mine(
        heartbeat="2026-03-01T12:00:30Z")}})


async def test_an_entry_removed_by_another_operator_is_registered_anew_ranking_last() -> None:
    world = World("prod-aws")
    world.kept.start()
    await world.settled()
    world.identity("prod-aws", **world.writes.patches[0][1])
    world.kept.seen("prod-aws")
    world.now = NOW + timedelta(minutes=5)
    world.identity("prod-aws", operators={})
    world.kept.seen("prod-aws")
    await world.settled()
    assert world.writes.patches[1][1]["operators"][ME]["since"] == "2026-03-01T12:05:00Z"


async def test_a_refused_write_is_tried_again() -> None:
    world = World("prod-aws", failures=1)
    world.kept.start()
    async with asyncio.timeout(5):
        await world.writes.written.wait()
    await world.kept.close()
    assert [name for name, _ in world.writes.patches] == ["prod-aws"]


async def test_a_replica_standing_by_writes_nothing() -> None:
    world = World("prod-aws")
    world.kept.start()
    await world.kept.stop()
    world.kept.stale(counts=lambda: COUNTS)
    world.kept.saw_principal("prod-aws", "arn:me")
    await world.settled()
    assert world.writes.patches == []


class SignallingWriter(StatusWriter):
    """The real writer, saying when a write is done."""

    def __init__(self, kube_api: KubeAPI) -> None:
        super().__init__(kube_api.custom_objects())
        self.written = asyncio.Event()

    async def patch_identity(self, *, name: str, status: Mapping[str, Any]) -> None:
        await super().patch_identity(name=name, status=status)
        self.written.set()


async def test_two_operators_entries_land_side_by_side_in_the_status_on_the_api(
    kube_api: KubeAPI,
) -> None:
    path = "externalidentity.dev/v1alpha1/externalidentities"
    kube_api.create({"apiVersion": "externalidentity.dev/v1alpha1", "kind": "ExternalIdentity",
                     "metadata": {"name": "prod-aws"}, "spec": AWS})
    for name, count in (("ops/a", 3), ("ops/b", 1)):
        cache = IdentityCache()
        cache.saw(kube_api.get(path, None, "prod-aws") or {})
        writer = SignallingWriter(kube_api)
        kept = IdentityStatuses(writer, identities=cache, me=name, scope=OperatorScope(),
                                clock=lambda: NOW, settle_seconds=0)
        kept.start()
        kept.stale(counts=lambda count=count: {"prod-aws": {"bindings": count,  # type: ignore[misc]
                                                             "readyBindings": count}})
        kept.saw_principal("prod-aws", "arn:aws:sts::1:assumed-role/r/s")
        async with asyncio.timeout(10):
            await writer.written.wait()
        await kept.close()

    status = (kube_api.get(path, None, "prod-aws") or {}).get("status") or {}
    assert set(status["operators"]) == {"ops/a", "ops/b"}, "a merge patch keeps the other entry"
    assert status["operators"]["ops/a"] == {
        "namespaces": [], "since": AT, "heartbeat": AT, "bindings": 3, "readyBindings": 3,
        "principal": "arn:aws:sts::1:assumed-role/r/s"}
    assert (status["bindings"], status["principal"]) == (4, "arn:aws:sts::1:assumed-role/r/s")
