"""Several operators split one cluster by a binding label selector, or by namespace patterns;
where their selectors overlap, one serves each binding and the other says so."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from support.operator import OperatorProcess, free_port, metric
from support.peers.phase_model import ServiceAccount

from external_identity.api.resources import BINDINGS, GROUP, IDENTITIES, VERSION
from tests.operator.harness import NAMESPACE, Cluster, wait_for

pytestmark = pytest.mark.usefixtures("loopback_only")

#: A stopped operator's entry goes stale after three missed beats: seconds here, not minutes.
FAST_BEAT = ("--heartbeat-seconds", "2")


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

    # Ready is in the API a moment before the operator's log line reaches the test.
    wait_for(lambda: _issued(shard_a, "alpha") and _issued(shard_a, "gamma")
             and _issued(shard_b, "beta"), message="each shard's issued lines")
    assert not _issued(shard_a, "beta") and not _issued(shard_b, "alpha")
    assert not _issued(shard_b, "gamma")
    assert len(cluster.phase.records.tokens) == 3
    selectors = {call.label_selector for call in cluster.kube.calls()
                 if call.resource == "serviceaccountbindings" and call.verb in ("list", "watch")}
    assert selectors == {"shard=a", "shard=b"}, "bindings must be filtered by the server"


def test_a_namespace_pattern_serves_the_namespaces_it_matches(
    cluster: Cluster, account: ServiceAccount, start_operator: Callable[..., OperatorProcess],
) -> None:
    cluster.apply_identity()
    cluster.apply_binding(account.id, ttl=600)
    start_operator("--namespace", f"{NAMESPACE[:3]}*", "--namespace", "!sandbox-*")
    cluster.wait_ready("TokenIssued")


def _entries(cluster: Cluster) -> dict[str, Any]:
    body = cluster.custom.get_cluster_custom_object(GROUP, VERSION, IDENTITIES, "local-aws")
    return dict((body.get("status") or {}).get("operators") or {})


def _left_to(operator: OperatorProcess, binding: str, other: str) -> bool:
    return f"{NAMESPACE}/{binding}: left to operator {other}" in operator.output


def _overlapping_shards(
    cluster: Cluster, account: ServiceAccount, start_operator: Callable[..., OperatorProcess],
    port: int,
) -> tuple[OperatorProcess, OperatorProcess]:
    """``ops/all`` serves every labelled binding; ``ops/a`` starts later and overlaps on alpha."""
    cluster.apply_identity()
    _apply_labelled(cluster, account, "alpha", "a")
    _apply_labelled(cluster, account, "beta", "b")
    first = start_operator("--binding-selector", "shard", "--operator-name", "ops/all",
                           *FAST_BEAT)
    cluster.wait_ready("TokenIssued", name="alpha")
    cluster.wait_ready("TokenIssued", name="beta")
    second = start_operator("--binding-selector", "shard in (a, c)", "--operator-name", "ops/a",
                            "--metrics-port", str(port), *FAST_BEAT)
    wait_for(lambda: _left_to(second, "alpha", "ops/all"), timeout=30,
             message="the later shard leaving alpha to the first")
    return first, second


def test_overlapping_shards_mint_once_and_the_later_one_names_the_first(
    cluster: Cluster, account: ServiceAccount, start_operator: Callable[..., OperatorProcess],
) -> None:
    port = free_port()
    first, second = _overlapping_shards(cluster, account, start_operator, port)
    assert "shard" in second.output.split("left to operator ops/all", 1)[1].split("\n")[0]
    sample = 'external_identity_bindings_deferred{operator="ops/all"}'
    assert wait_for(lambda: metric(port, sample), message="the deferred gauge") == 1
    assert metric(port, "external_identity_bindings") == 0, "a deferred binding is not kept"
    assert metric(port, "external_identity_bindings_ready") == 0
    # The later shard wrote its own entry, with nothing served; the totals count alpha once.
    entries = wait_for(lambda: (e := _entries(cluster)).get("ops/a", {}).get("bindings") == 0
                       and e, timeout=30, message="the later shard's entry")
    assert entries["ops/all"]["bindings"] == 2
    assert entries["ops/all"]["since"] < entries["ops/a"]["since"]
    cluster.custom.patch_namespaced_custom_object(  # a spec change wakes both shards
        GROUP, VERSION, NAMESPACE, BINDINGS, "alpha", {"spec": {"ttl": 900}})
    wait_for(lambda: "payments/alpha: issued a token (ttl 900s)" in first.output, timeout=30,
             message="the first shard re-issuing alpha")
    assert len(cluster.phase.records.tokens) == 3  # alpha twice (the ttl change), beta once
    assert not _issued(second, "alpha")
    assert second.output.count("left to operator ops/all") == 1, "said once per binding"


def test_when_the_serving_shard_stops_the_other_takes_over_the_fresh_token(
    cluster: Cluster, account: ServiceAccount, start_operator: Callable[..., OperatorProcess],
) -> None:
    first, second = _overlapping_shards(cluster, account, start_operator, free_port())
    token = cluster.token(name="alpha")
    first.stop()
    wait_for(lambda: f"{NAMESPACE}/alpha: served by this operator again" in second.output,
             timeout=40, message="the other shard taking alpha over")
    wait_for(lambda: f"{NAMESPACE}/alpha: resumed the token in Secret alpha" in second.output,
             timeout=30, message="the other shard resuming alpha's token")
    assert len(cluster.phase.records.tokens) == 2, "the takeover re-minted"
    assert cluster.token(name="alpha") == token
    wait_for(lambda: "ops/all" not in (e := _entries(cluster)) and e["ops/a"]["bindings"] == 1,
             timeout=30, message="the stale entry removed, alpha counted by the other shard")


def test_overlapping_shards_started_together_mint_each_binding_once(
    cluster: Cluster, account: ServiceAccount, start_operator: Callable[..., OperatorProcess],
) -> None:
    cluster.apply_identity()
    names = [f"b{n}" for n in range(4)]
    for name in names:
        _apply_labelled(cluster, account, name, "a")
    shards = [start_operator("--binding-selector", selector, "--operator-name", name)
              for selector, name in (("shard", "ops/x"), ("shard=a", "ops/y"))]
    for name in names:
        cluster.wait_ready("TokenIssued", name=name)
    # Either may win (the later writer ranks after the earlier one), but only one mints.
    serving = wait_for(lambda: next((shard for shard in shards if _issued(shard, names[0])),
                                    None), message="the serving shard's issued line")
    other = shards[1] if serving is shards[0] else shards[0]
    serving_name = "ops/x" if serving is shards[0] else "ops/y"
    wait_for(lambda: _left_to(other, names[0], serving_name), timeout=30,
             message="the other shard leaving the bindings to the serving one")
    wait_for(lambda: all(_issued(serving, name) for name in names),
             message="the serving shard's issued lines")
    assert not any(_issued(other, name) for name in names)
    assert len(cluster.phase.records.tokens) == len(names)
