"""With --peering, only the replica kopf lets act steps bindings; the others stand by."""

from __future__ import annotations

import time
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


def _peers(cluster: Cluster) -> dict[str, object]:
    """The keep-alives in the cluster-wide peering object, by replica."""
    body = cluster.custom.get_cluster_custom_object(
        "kopf.dev", "v1", "clusterkopfpeerings", PEERING)
    return dict(body.get("status") or {})


def test_replicas_watching_a_namespace_glob_peer_cluster_wide_and_one_acts(
    cluster: Cluster, account: ServiceAccount, start_operator: Callable[..., OperatorProcess],
) -> None:
    cluster.kube.create({"apiVersion": "kopf.dev/v1", "kind": "ClusterKopfPeering",
                         "metadata": {"name": PEERING}})
    cluster.apply_identity()
    pattern = NAMESPACE[:3] + "*"
    high = start_operator("-n", pattern, "--peering", PEERING, "--priority", "20")
    wait_for(lambda: ACTING in high.output, message="the high-priority replica to act")
    # A replica that finds no peer recorded acts: the low one starts once the high one is.
    wait_for(lambda: len(_peers(cluster)) == 1, message="the high replica's keep-alive")
    low = start_operator("-n", pattern, "--peering", PEERING, "--priority", "10")
    wait_for(lambda: STANDING_BY in low.output, message="the low-priority replica to stand by")
    wait_for(lambda: len(_peers(cluster)) == 2,
             message="both replicas' kopf keeping alive in the cluster-wide peering object")

    cluster.apply_binding(account.id, name="first", secret="first", ttl=600)
    cluster.wait_ready("TokenIssued", name="first")
    assert _issued(high, "first")
    assert not _issued(low, "first")
    assert ACTING not in low.output
    assert len(cluster.phase.records.tokens) == 1
    identity = cluster.custom.get_cluster_custom_object(
        "externalidentity.dev", "v1alpha1", "externalidentities", "local-aws")
    assert (identity.get("status") or {}).get("conditions"), "kopf acts on the active replica"


def test_a_standby_acts_within_20_s_of_the_active_replicas_death_and_the_token_never_expires(
    cluster: Cluster, account: ServiceAccount, start_operator: Callable[..., OperatorProcess],
) -> None:
    cluster.kube.create({"apiVersion": "kopf.dev/v1", "kind": "ClusterKopfPeering",
                         "metadata": {"name": PEERING}})
    cluster.apply_identity()
    # Refreshed about 30 s after it is issued, it expires 45 s after: well before kopf's
    # default peering lifetime (60 s) would let a standby take over from a killed replica.
    cluster.apply_binding(account.id, ttl=45)
    high = start_operator("--peering", PEERING, "--priority", "20")
    cluster.wait_ready("TokenIssued")
    low = start_operator("--peering", PEERING, "--priority", "10")
    wait_for(lambda: STANDING_BY in low.output, message="the low-priority replica to stand by")
    wait_for(lambda: len(_peers(cluster)) == 2, message="both replicas keeping alive")
    token = cluster.token()
    assert token is not None

    high.kill()
    killed = time.monotonic()
    took = None
    for moment, current in cluster.watch_tokens(seconds=60):
        if took is None and ACTING in low.output:
            took = time.monotonic() - killed
            print(f"the standby acted {took:.1f} s after the active replica was killed")
        issued = cluster.phase.records.find_token(current or "")
        assert issued is not None, "the Secret lost its token"
        assert moment < issued.expires_at, "the token in the Secret expired"
        if current != token:
            print(f"the standby refreshed {time.monotonic() - killed:.1f} s after the kill")
            break
    else:
        raise AssertionError("the standby never refreshed the token")
    assert took is not None and took < 20, f"the standby acted {took} s after the kill"
    wait_for(lambda: _issued(low, "payments-api"), message="the standby's refresh")
