"""With --peering, only the replica kopf lets act steps bindings; the others stand by."""

from __future__ import annotations

from collections.abc import Callable

import pytest
from support.operator import OperatorProcess
from support.peers.phase_model import ServiceAccount

from tests.operator.harness import NAMESPACE, Cluster, wait_for

pytestmark = pytest.mark.usefixtures("loopback_only")

PEERING = "external-identity"
ACTING = "no other replica outranks this one; acting"
STANDING_BY = "another replica acts; standing by"


def _issued(operator: OperatorProcess, binding: str) -> bool:
    return f"{NAMESPACE}/{binding}: issued a token" in operator.output


def test_a_standby_replica_issues_nothing_until_the_active_one_leaves(
    cluster: Cluster, account: ServiceAccount, start_operator: Callable[..., OperatorProcess],
) -> None:
    cluster.kube.create({"apiVersion": "kopf.dev/v1", "kind": "ClusterKopfPeering",
                         "metadata": {"name": PEERING}})
    cluster.apply_identity()
    cluster.apply_binding(account.id, name="first", secret="first", ttl=600)
    low = start_operator("--peering", PEERING, "--priority", "10")
    cluster.wait_ready("TokenIssued", name="first")
    assert _issued(low, "first")

    high = start_operator("--peering", PEERING, "--priority", "20")
    wait_for(lambda: STANDING_BY in low.output, message="the low-priority replica to stand by")
    wait_for(lambda: ACTING in high.output, message="the high-priority replica to act")
    cluster.apply_binding(account.id, name="second", secret="second", ttl=600)
    cluster.wait_ready("TokenIssued", name="second")
    assert _issued(high, "second")
    assert not _issued(low, "second")
    assert not _issued(high, "first"), "the new replica re-minted a token that was not due"

    high.stop()
    wait_for(lambda: low.output.count(ACTING) == 2, message="the low-priority replica to act")
    cluster.apply_binding(account.id, name="third", secret="third", ttl=600)
    cluster.wait_ready("TokenIssued", name="third")
    assert _issued(low, "third")
    assert len(cluster.phase.records.tokens) == 3
