"""A restarted operator resumes where it was: no re-minting, readiness and backoff intact."""

from __future__ import annotations

from collections.abc import Callable

import pytest
from support.operator import OperatorProcess
from support.peers.phase_model import ServiceAccount

from tests.operator.harness import Cluster, free_port, metric, wait_for

pytestmark = pytest.mark.usefixtures("loopback_only")

READY_GAUGE = "external_identity_bindings_ready"
RESUMED = "resumed the token in Secret"
BACKING_OFF = "resuming the backoff of its last failure"


def test_restarting_the_operator_does_not_mint_tokens_that_are_not_due(
    cluster: Cluster, account: ServiceAccount, start_operator: Callable[..., OperatorProcess],
) -> None:
    cluster.apply_identity()
    apps = cluster.apply_apps(account.id, 3)
    first = start_operator()
    for app in apps:
        cluster.wait_ready("TokenIssued", name=app)
    assert len(cluster.phase.records.tokens) == 3
    first.stop()
    assert "Will escalate" not in first.output, "daemons must stop on their own, not be cancelled"

    second = start_operator()
    wait_for(lambda: second.output.count(RESUMED) == 3, timeout=45,
             message="all three bindings resumed")
    assert len(cluster.phase.records.tokens) == 3, "restart re-minted tokens"
    for app in apps:
        assert cluster.ready(app)["reason"] == "TokenIssued"


def test_the_ready_gauge_counts_resumed_bindings_after_a_restart(
    cluster: Cluster, account: ServiceAccount, start_operator: Callable[..., OperatorProcess],
) -> None:
    cluster.apply_identity()
    cluster.apply_apps(account.id, 3)
    port = free_port()
    first = start_operator("--metrics-port", str(port))
    wait_for(lambda: metric(port, READY_GAUGE) == 3, message="three Ready bindings counted")
    first.stop()

    port = free_port()
    second = start_operator("--metrics-port", str(port))
    wait_for(lambda: second.output.count(RESUMED) == 3, timeout=45,
             message="all three bindings resumed")
    wait_for(lambda: metric(port, READY_GAUGE) == 3, message="the gauge after the restart")
    assert len(cluster.phase.records.tokens) == 3


def test_a_restart_keeps_the_backoff_of_a_failing_binding(
    cluster: Cluster, account: ServiceAccount, start_operator: Callable[..., OperatorProcess],
) -> None:
    cluster.phase.config.unavailable = True
    cluster.apply_identity()
    cluster.apply_binding(account.id, ttl=600)
    first = start_operator("--backoff-base", "60", "--backoff-cap", "120")
    cluster.wait_ready("ExchangeFailed")
    attempts = len(cluster.phase.records.requests)
    first.stop()

    second = start_operator("--backoff-base", "60", "--backoff-cap", "120")
    wait_for(lambda: BACKING_OFF in second.output, message="the persisted backoff resumed")
    assert len(cluster.phase.records.requests) == attempts, "the restart retried at once"
    assert cluster.ready()["reason"] == "ExchangeFailed"


def test_retry_after_on_503_is_honoured(
    cluster: Cluster, account: ServiceAccount, start_operator: Callable[..., OperatorProcess],
) -> None:
    cluster.phase.fail(status=503, body={"error": "busy"}, headers={"Retry-After": "3"})
    cluster.apply_identity()
    cluster.apply_binding(account.id, ttl=600)
    start_operator()  # backoff base 0.5 s: only Retry-After can hold the retry back 3 s
    cluster.wait_ready("ExchangeFailed")
    cluster.wait_ready("TokenIssued", timeout=20)
    refused, retried = cluster.phase.records.requests[:2]
    assert retried.received_at - refused.received_at >= 2.9
