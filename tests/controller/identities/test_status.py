"""ExternalIdentity status: its Ready condition (pure), and the binding counts and principal
written once per change (the writer is a recorder passed in, or the real one on the emulator)."""

from __future__ import annotations

import asyncio
from collections.abc import Mapping
from datetime import UTC, datetime, timedelta
from typing import Any, cast

import pytest
from support.kube.fixtures import KubeAPI

from external_identity.api import conditions
from external_identity.controller.identities.status import IdentityStatuses, identity_readiness
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


# -- binding counts and the principal --------------------------------------------------------------


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


def statuses(writes: Writes, **options: Any) -> IdentityStatuses:
    return IdentityStatuses(cast(StatusWriter, writes), settle_seconds=0, retry_seconds=0,
                            **options)


async def settled(identity_statuses: IdentityStatuses) -> None:
    """Let the recount task run to its end (no timers: settle and retry are zero)."""
    for _ in range(20):
        await asyncio.sleep(0)
    await identity_statuses.close()


COUNTS = {"prod-aws": {"bindings": 3, "readyBindings": 2}}


async def test_each_known_identity_gets_its_counts_and_one_without_bindings_zero() -> None:
    writes = Writes()
    kept = statuses(writes)
    kept.stale(counts=lambda: COUNTS, known=lambda: {"prod-aws", "idle"})
    await settled(kept)
    assert writes.patches == [("idle", {"bindings": 0, "readyBindings": 0}),
                              ("prod-aws", {"bindings": 3, "readyBindings": 2})]


async def test_a_burst_of_changes_is_one_write_per_identity() -> None:
    writes = Writes()
    kept = statuses(writes)
    for _ in range(100):
        kept.stale(counts=lambda: COUNTS, known=lambda: {"prod-aws"})
    await settled(kept)
    assert len(writes.patches) == 1


async def test_changes_arriving_while_the_status_settles_are_written_together() -> None:
    writes = Writes()
    kept = statuses(writes)
    counts = {"prod-aws": {"bindings": 1, "readyBindings": 0}}
    kept.stale(counts=lambda: counts, known=lambda: {"prod-aws"})
    await asyncio.sleep(0)  # the recount has started: it is settling
    counts = {"prod-aws": {"bindings": 2, "readyBindings": 1}}
    kept.stale(counts=lambda: counts, known=lambda: {"prod-aws"})
    await settled(kept)
    assert writes.patches == [("prod-aws", {"bindings": 2, "readyBindings": 1})]


async def test_only_fields_that_differ_from_what_the_status_says_are_written() -> None:
    writes = Writes()
    kept = statuses(writes)
    kept.stale(counts=lambda: COUNTS, known=lambda: {"prod-aws"},
               written={"prod-aws": {"bindings": 3, "readyBindings": 1, "principal": None}})
    await settled(kept)
    assert writes.patches == [("prod-aws", {"readyBindings": 2})]

    kept.stale(counts=lambda: COUNTS, known=lambda: {"prod-aws"})
    await settled(kept)
    assert len(writes.patches) == 1  # nothing changed since


async def test_the_principal_an_exchange_proved_is_written_when_it_changes() -> None:
    writes = Writes()
    kept = statuses(writes)
    kept.stale(counts=lambda: COUNTS, known=lambda: {"prod-aws"})
    await settled(kept)
    kept.saw_principal("prod-aws", "arn:aws:sts::1:assumed-role/r/s")
    kept.saw_principal("prod-aws", "arn:aws:sts::1:assumed-role/r/s")
    await settled(kept)
    assert writes.patches[1:] == [("prod-aws", {"principal": "arn:aws:sts::1:assumed-role/r/s"})]


async def test_a_refused_write_is_tried_again() -> None:
    writes = Writes(failures=1)
    kept = statuses(writes)
    kept.stale(counts=lambda: COUNTS, known=lambda: {"prod-aws"})
    async with asyncio.timeout(5):
        await writes.written.wait()
    await kept.close()
    assert writes.patches == [("prod-aws", {"bindings": 3, "readyBindings": 2})]


async def test_a_forgotten_identity_is_written_in_full_when_it_comes_back() -> None:
    writes = Writes()
    kept = statuses(writes)
    kept.stale(counts=lambda: COUNTS, known=lambda: {"prod-aws"})
    await settled(kept)
    kept.forget("prod-aws")
    kept.stale(counts=lambda: COUNTS, known=lambda: {"prod-aws"})
    await settled(kept)
    assert [name for name, _ in writes.patches] == ["prod-aws", "prod-aws"]


@pytest.mark.parametrize("principal_first", [False, True])
async def test_a_sharded_operator_leaves_these_fields_alone(principal_first: bool) -> None:
    writes = Writes()
    kept = statuses(writes, enabled=False)
    if principal_first:
        kept.saw_principal("prod-aws", "oid")
    kept.stale(counts=lambda: COUNTS, known=lambda: {"prod-aws"})
    kept.saw_principal("prod-aws", "oid")
    await settled(kept)
    assert not kept.enabled
    assert writes.patches == []


class SignallingWriter(StatusWriter):
    """The real writer, saying when a write is done."""

    def __init__(self, kube_api: KubeAPI) -> None:
        super().__init__(kube_api.custom_objects())
        self.written = asyncio.Event()

    async def patch_identity(self, *, name: str, status: Mapping[str, Any]) -> None:
        await super().patch_identity(name=name, status=status)
        self.written.set()


async def test_counts_and_principal_land_in_the_identitys_status_on_the_api(
    kube_api: KubeAPI,
) -> None:
    kube_api.create({"apiVersion": "externalidentity.dev/v1alpha1", "kind": "ExternalIdentity",
                     "metadata": {"name": "prod-aws"}, "spec": AWS})
    writer = SignallingWriter(kube_api)
    kept = IdentityStatuses(writer, settle_seconds=0)
    kept.stale(counts=lambda: COUNTS, known=lambda: {"prod-aws"})
    kept.saw_principal("prod-aws", "arn:aws:sts::1:assumed-role/r/s")
    async with asyncio.timeout(10):
        await writer.written.wait()
    await kept.close()

    stored = kube_api.get("externalidentity.dev/v1alpha1/externalidentities", None, "prod-aws")
    assert (stored or {}).get("status") == {
        "bindings": 3, "readyBindings": 2, "principal": "arn:aws:sts::1:assumed-role/r/s"}
