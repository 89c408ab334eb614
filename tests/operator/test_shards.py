"""Several operators split one cluster by a binding label selector, or by namespace patterns."""

from __future__ import annotations

from collections.abc import Callable

import pytest
from support.operator import OperatorProcess
from support.peers.phase_model import ServiceAccount

from external_identity.api.resources import BINDINGS, GROUP, VERSION
from tests.operator.harness import NAMESPACE, Cluster

pytestmark = pytest.mark.usefixtures("loopback_only")

SHARDED = "one shard"


def _apply_labelled(cluster: Cluster, account: ServiceAccount, name: str, shard: str) -> None:
    body = cluster.binding_body(account.id, name=name, secret=name, ttl=600)
    body["metadata"]["labels"] = {"shard": shard}
    cluster.custom.create_namespaced_custom_object(GROUP, VERSION, NAMESPACE, BINDINGS, body)


def _issued(operator: OperatorProcess, binding: str) -> bool:
    return f"{NAMESPACE}/{binding}: issued a token" in operator.output


def test_each_shard_keeps_only_the_bindings_its_selector_picks(
    cluster: Cluster, account: ServiceAccount, start_operator: Callable[..., OperatorProcess],
) -> None:
    cluster.apply_identity()
    _apply_labelled(cluster, account, "alpha", "a")
    _apply_labelled(cluster, account, "beta", "b")
    shard_a = start_operator("--binding-selector", "shard=a")
    shard_b = start_operator("--binding-selector", "shard=b")
    cluster.wait_ready("TokenIssued", name="alpha")
    cluster.wait_ready("TokenIssued", name="beta")
    _apply_labelled(cluster, account, "gamma", "a")
    cluster.wait_ready("TokenIssued", name="gamma")

    assert _issued(shard_a, "alpha") and _issued(shard_a, "gamma")
    assert _issued(shard_b, "beta")
    assert not _issued(shard_a, "beta") and not _issued(shard_b, "alpha")
    assert not _issued(shard_b, "gamma")
    assert len(cluster.phase.records.tokens) == 3
    selectors = {call.label_selector for call in cluster.kube.calls()
                 if call.resource == "serviceaccountbindings" and call.verb in ("list", "watch")}
    assert selectors == {"shard=a", "shard=b"}, "bindings must be filtered by the server"
    # Neither shard sees every binding, so neither may write the identity's binding count.
    assert SHARDED in shard_a.output and SHARDED in shard_b.output


def test_a_namespace_pattern_serves_the_namespaces_it_matches(
    cluster: Cluster, account: ServiceAccount, start_operator: Callable[..., OperatorProcess],
) -> None:
    cluster.apply_identity()
    cluster.apply_binding(account.id, ttl=600)
    start_operator("--namespace", f"{NAMESPACE[:3]}*", "--namespace", "!sandbox-*")
    cluster.wait_ready("TokenIssued")
