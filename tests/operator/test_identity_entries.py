"""Every operator keeps its own entry in each identity's status.operators, whatever its scope,
and the identity's top-level counts and principal are the totals over the live entries."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from support.operator import OperatorProcess
from support.peers.phase_model import ServiceAccount

from external_identity.api.resources import BINDINGS, GROUP, IDENTITIES, VERSION
from tests.operator.harness import NAMESPACE, Cluster, wait_for

pytestmark = pytest.mark.usefixtures("loopback_only")


def identity_status(cluster: Cluster) -> dict[str, Any]:
    body = cluster.custom.get_cluster_custom_object(GROUP, VERSION, IDENTITIES, "local-aws")
    return body.get("status") or {}


def apply_labelled(cluster: Cluster, account: ServiceAccount, name: str, shard: str) -> None:
    body = cluster.binding_body(account.id, name=name, secret=name, ttl=600)
    body["metadata"]["labels"] = {"shard": shard}
    cluster.custom.create_namespaced_custom_object(GROUP, VERSION, NAMESPACE, BINDINGS, body)


def shows(cluster: Cluster, **wanted: Any) -> Callable[[], dict[str, Any] | None]:
    """A predicate: the identity's status has these top-level values (then: the status)."""
    def check() -> dict[str, Any] | None:
        status = identity_status(cluster)
        return status if all(status.get(k) == v for k, v in wanted.items()) else None
    return check


def test_a_namespace_restricted_operator_shows_the_principal_and_its_bindings(
    cluster: Cluster, account: ServiceAccount, start_operator: Callable[..., OperatorProcess],
) -> None:
    cluster.apply_identity()
    cluster.apply_binding(account.id, ttl=600)
    start_operator("--namespace", NAMESPACE, "--operator-name", "ops/restricted")
    cluster.wait_ready("TokenIssued")
    principal = cluster.sts.assumed_role_arn
    status = wait_for(shows(cluster, bindings=1, readyBindings=1, principal=principal),
                      timeout=30, message="the identity's totals")
    entry = status["operators"]["ops/restricted"]
    assert entry["bindings"] == 1 and entry["readyBindings"] == 1
    assert entry["principal"] == principal
    assert entry["namespaces"] == [NAMESPACE]
    assert "bindingSelector" not in entry
    assert entry["since"] <= entry["heartbeat"]


def test_disjoint_shards_each_write_their_entry_and_the_totals_sum_both(
    cluster: Cluster, account: ServiceAccount, start_operator: Callable[..., OperatorProcess],
) -> None:
    cluster.apply_identity()
    apply_labelled(cluster, account, "alpha", "a")
    apply_labelled(cluster, account, "beta", "b")
    apply_labelled(cluster, account, "gamma", "b")
    start_operator("--binding-selector", "shard=a", "--operator-name", "ops/a")
    start_operator("--binding-selector", "shard=b", "--operator-name", "ops/b")
    for name in ("alpha", "beta", "gamma"):
        cluster.wait_ready("TokenIssued", name=name)
    status = wait_for(shows(cluster, bindings=3, readyBindings=3), timeout=30,
                      message="the totals over both shards")
    shard_a, shard_b = status["operators"]["ops/a"], status["operators"]["ops/b"]
    assert (shard_a["bindings"], shard_a["readyBindings"]) == (1, 1)
    assert (shard_b["bindings"], shard_b["readyBindings"]) == (2, 2)
    assert shard_a["bindingSelector"] == "shard=a" and shard_b["bindingSelector"] == "shard=b"
    assert status["principal"] == cluster.sts.assumed_role_arn
    assert len(cluster.phase.records.tokens) == 3
