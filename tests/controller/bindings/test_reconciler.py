"""One binding's reconciler in-process, with real parts: each plan is carried out through the
emulator and the peers, and readiness, metrics and the principal are told to the parts."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
from support.peers.phase_model import ServiceAccount

from external_identity.api.times import parse_rfc3339
from external_identity.controller.bindings.reconciler import BindingReconciler
from external_identity.controller.decide.plans import REFRESH_ANNOTATION
from external_identity.secrets.data import EXPIRES_AT_ANNOTATION
from tests.controller.conftest import Parts, eventually
from tests.operator.harness import NAMESPACE, Cluster

pytestmark = pytest.mark.usefixtures("aws_env", "loopback_only")


class Flips:
    def __init__(self) -> None:
        self.count = 0

    def __call__(self) -> None:
        self.count += 1


def reconciler(parts: Parts, binding: dict[str, Any], flips: Flips) -> BindingReconciler:
    metadata = binding["metadata"]
    return BindingReconciler(
        namespace=NAMESPACE, name=metadata["name"], uid=metadata["uid"],
        status=binding.get("status") or {}, parts=parts.parts, readiness_changed=flips,
    )


async def test_a_first_step_issues_writes_and_reports_ready_once(
    cluster: Cluster, parts: Parts, account: ServiceAccount,
) -> None:
    parts.identities["local-aws"] = cluster.apply_identity()
    binding = cluster.apply_binding(account.id, ttl=600)
    flips = Flips()
    step = reconciler(parts, binding, flips)

    delay = await step.step(binding)

    assert cluster.phase.records.find_token(cluster.token() or "") is not None
    assert (cluster.ready() or {}).get("reason") == "TokenIssued"
    assert step.ready and flips.count == 1
    assert step.held is not None and 0 < delay <= 600
    assert parts.principals.seen["local-aws"] == cluster.sts.assumed_role_arn
    ttl = parts.metrics.registry.get_sample_value(
        "external_identity_token_ttl_seconds", {"namespace": NAMESPACE, "binding": "payments-api"})
    assert ttl == 600


async def test_a_second_step_before_the_refresh_mints_nothing(
    cluster: Cluster, parts: Parts, account: ServiceAccount,
) -> None:
    parts.identities["local-aws"] = cluster.apply_identity()
    binding = cluster.apply_binding(account.id, ttl=600)
    flips = Flips()
    step = reconciler(parts, binding, flips)
    await step.step(binding)
    minted, token = len(cluster.phase.records.tokens), cluster.token()
    await step.step(binding)
    assert (len(cluster.phase.records.tokens), cluster.token()) == (minted, token)
    assert flips.count == 1, "readiness did not flip again"


async def test_a_refused_binding_is_not_ready_and_costs_no_exchange(
    cluster: Cluster, parts: Parts, account: ServiceAccount,
) -> None:
    parts.identities["local-aws"] = cluster.apply_identity(allowedNamespaces=["team-*"])
    binding = cluster.apply_binding(account.id, ttl=600)
    flips = Flips()
    step = reconciler(parts, binding, flips)
    await step.step(binding)
    assert (cluster.ready() or {}).get("reason") == "NamespaceNotAllowed"
    assert not step.ready and flips.count == 0
    assert cluster.phase.records.tokens == []
    assert cluster.secret() is None


async def test_forget_drops_the_bindings_series_and_readiness(
    cluster: Cluster, parts: Parts, account: ServiceAccount,
) -> None:
    parts.identities["local-aws"] = cluster.apply_identity()
    binding = cluster.apply_binding(account.id, ttl=600)
    step = reconciler(parts, binding, Flips())
    await step.step(binding)
    step.forget()
    labels = {"namespace": NAMESPACE, "binding": "payments-api"}
    assert not step.ready and step.held is None
    assert parts.metrics.registry.get_sample_value(
        "external_identity_token_ttl_seconds", labels) is None
    assert parts.metrics.registry.get_sample_value(
        "external_identity_last_refresh_outcome", {**labels, "reason": "TokenIssued"}) is None


LABELS = {"namespace": NAMESPACE, "binding": "payments-api"}
EXPIRY = "external_identity_token_expiry_timestamp_seconds"
TTL = "external_identity_token_ttl_seconds"


def _series(parts: Parts) -> tuple[float | None, float | None]:
    registry = parts.metrics.registry
    return registry.get_sample_value(EXPIRY, LABELS), registry.get_sample_value(TTL, LABELS)


def _secret_expiry(cluster: Cluster) -> float:
    expires_at = parse_rfc3339(cluster.secret().metadata.annotations[EXPIRES_AT_ANNOTATION])
    assert expires_at is not None
    return expires_at.timestamp()


async def test_a_new_reconciler_shows_what_the_secret_holds_before_its_first_step(
    cluster: Cluster, parts: Parts, account: ServiceAccount,
) -> None:
    parts.identities["local-aws"] = cluster.apply_identity()
    binding = cluster.apply_binding(account.id, ttl=600)
    before = reconciler(parts, binding, Flips())
    await before.step(binding)
    before.forget()
    assert _series(parts) == (None, None)

    after = reconciler(parts, binding, Flips())  # a restart: the Secret cache is all it knows
    after.show_secret(binding["spec"])
    assert _series(parts) == (_secret_expiry(cluster), 600)


async def test_a_failing_refresh_keeps_the_series_of_the_token_left_in_the_secret(
    cluster: Cluster, parts: Parts, account: ServiceAccount,
) -> None:
    parts.identities["local-aws"] = cluster.apply_identity()
    binding = cluster.apply_binding(account.id, ttl=600)
    step = reconciler(parts, binding, Flips())
    await step.step(binding)
    cluster.phase.config.unavailable = True
    forced = {**binding, "metadata": {**binding["metadata"],
                                      "annotations": {REFRESH_ANNOTATION: "now"}}}
    await step.step(forced)
    assert (cluster.ready() or {}).get("reason") == "ExchangeFailed"
    assert _series(parts) == (_secret_expiry(cluster), 600)


async def test_revoking_the_secret_removes_the_series(
    cluster: Cluster, parts: Parts, account: ServiceAccount,
) -> None:
    parts.identities["local-aws"] = cluster.apply_identity()
    binding = cluster.apply_binding(account.id, ttl=600)
    step = reconciler(parts, binding, Flips())
    await step.step(binding)
    assert _series(parts) != (None, None)
    parts.identities["local-aws"] = cluster.identity_body(allowedNamespaces=["elsewhere"])
    await step.step(binding)
    assert cluster.secret() is None
    assert _series(parts) == (None, None)


async def test_a_step_still_exchanging_when_forgotten_writes_no_series(
    cluster: Cluster, parts: Parts, account: ServiceAccount,
) -> None:
    parts.identities["local-aws"] = cluster.apply_identity()
    binding = cluster.apply_binding(account.id, ttl=600)
    step = reconciler(parts, binding, Flips())
    cluster.phase.hang(seconds=60)
    stepping = asyncio.get_running_loop().create_task(step.step(binding))
    await eventually(cluster.phase.hanging.is_set, "the exchange in flight")
    step.forget()
    cluster.phase.release()
    await stepping
    assert cluster.token() is not None, "the exchange went on to its end"
    assert _series(parts) == (None, None)
    assert parts.metrics.registry.get_sample_value(
        "external_identity_last_refresh_outcome", {**LABELS, "reason": "TokenIssued"}) is None
