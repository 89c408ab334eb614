"""Operator-wide flags do what `external-identity run --help` says, measured at the Phase peer.

Timing is read from when each exchange request arrived at the peer, never from the test's own
clock: the gaps between attempts are the operator's retry delays (plus a few milliseconds of
work on an idle machine, more on a loaded one — hence the slack in each bound).
"""

from __future__ import annotations

import itertools
import statistics
from collections.abc import Callable

import pytest
from support.operator import OperatorProcess
from support.peers.helpers import aws_account
from support.peers.phase_model import RequestRecord, ServiceAccount

from tests.operator.harness import Cluster, wait_for

pytestmark = pytest.mark.usefixtures("loopback_only")

#: Retry delays are jittered down by up to this share (timing.retry_delay).
JITTER = 0.2


def arrivals(records: list[RequestRecord]) -> list[float]:
    return [record.arrived_at if record.arrived_at is not None else record.received_at
            for record in records]


def gaps(moments: list[float]) -> list[float]:
    return [later - earlier for earlier, later in itertools.pairwise(moments)]


def first_requests(cluster: Cluster, count: int, *, timeout: float) -> list[RequestRecord]:
    """The first ``count`` exchange requests the Phase peer saw, once it has seen them."""
    return wait_for(
        lambda: (found := cluster.phase.records.requests)[count - 1:] and found[:count],
        timeout=timeout, message=f"{count} exchange requests",
    )


def test_retries_of_a_transient_failure_stop_growing_at_the_backoff_cap(
    cluster: Cluster, account: ServiceAccount, start_operator: Callable[..., OperatorProcess],
) -> None:
    base, cap = 0.2, 0.8
    cluster.phase.config.unavailable = True
    cluster.apply_identity()
    cluster.apply_binding(account.id, ttl=600)
    start_operator("--backoff-base", str(base), "--backoff-cap", str(cap))

    # Capped: 0.2, 0.4, then 0.8 s apart (about 5.4 s for nine); uncapped the ninth would
    # come some 50 s after the first.
    requests = first_requests(cluster, 9, timeout=15)
    assert {record.status for record in requests} == {503}
    capped = gaps(arrivals(requests))[3:]
    assert min(capped) >= cap * (1 - JITTER) - 0.05, capped
    assert statistics.median(capped) <= cap + 0.4, capped
    assert cluster.ready()["reason"] == "ExchangeFailed"


def test_a_refused_exchange_is_retried_after_the_permanent_retry_delay(
    cluster: Cluster, start_operator: Callable[..., OperatorProcess],
) -> None:
    retry = 2.0
    refused, _ = aws_account(cluster.phase, cluster.sts, trusted_principals=[
        "arn:aws:sts::000000000000:assumed-role/someone-else/*"])
    cluster.apply_identity()
    cluster.apply_binding(refused.id, ttl=600)
    start_operator("--permanent-retry", str(retry), "--backoff-base", "0.2")

    requests = first_requests(cluster, 3, timeout=15)
    assert {record.status for record in requests} == {403}
    for gap in gaps(arrivals(requests)):
        assert retry - 0.05 <= gap <= retry + 1.5, "a refusal waits the permanent retry delay"
    condition = cluster.ready()
    assert condition is not None and condition["reason"] == "Rejected"


def test_no_more_exchanges_than_max_concurrent_exchanges_are_in_flight(
    cluster: Cluster, account: ServiceAccount, start_operator: Callable[..., OperatorProcess],
) -> None:
    limit, bindings = 2, 5
    cluster.phase.hang(bindings, seconds=1.5)  # each answer takes long enough to overlap
    cluster.apply_identity()
    names = cluster.apply_apps(account.id, bindings)
    start_operator("--max-concurrent-exchanges", str(limit))

    for name in names:
        cluster.wait_ready("TokenIssued", name=name, timeout=30)
    assert len(cluster.phase.records.tokens) == bindings
    assert cluster.phase.records.peak_in_flight == limit
