"""The Kubernetes API going away is a transient failure like any other: the token is kept and
refreshed as soon as the API is back."""

from __future__ import annotations

from collections.abc import Callable

import pytest
from support.operator import OperatorProcess
from support.peers.phase_model import ServiceAccount

from tests.operator.harness import Cluster, wait_for

pytestmark = pytest.mark.usefixtures("loopback_only")

UNREACHABLE = "Kubernetes API unreachable"


def test_a_refresh_due_during_an_api_outage_lands_right_after_it(
    cluster: Cluster, account: ServiceAccount, start_operator: Callable[..., OperatorProcess],
) -> None:
    cluster.apply_identity()
    cluster.apply_binding(account.id, ttl=6)
    operator = start_operator()
    cluster.wait_ready("TokenIssued")
    first = cluster.token()
    first_issued = cluster.phase.records.find_token(first or "")
    assert first_issued is not None

    with cluster.kube.outage():
        wait_for(
            lambda: operator.output.count(UNREACHABLE) >= 2,
            timeout=30,
            message="the operator retrying against the unreachable API",
        )
        kept = cluster.kube.get("v1/secrets", "payments", "phase-service-token")
        assert kept is not None and kept["data"]["token"], "the Secret must keep its token"

    # Retries are capped at a few seconds, so the due token lands soon after the API returns.
    renewed = wait_for(
        lambda: (token := cluster.token()) not in (None, first) and token,
        timeout=10,
        message="a new token written after the outage",
    )
    issued = cluster.phase.records.find_token(renewed)
    assert issued is not None and issued.issued_at > first_issued.issued_at
    cluster.wait_ready("TokenIssued")
    assert "Daemon 'keep_token_fresh' failed" not in operator.output
