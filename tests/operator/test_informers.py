"""Identities, bindings and the operator's Secrets are listed once, then watched from that LIST;
a watch whose history the server has compacted (410 Expired) lists again and misses nothing."""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable

import pytest
from support.operator import OperatorProcess
from support.peers.phase_model import ServiceAccount

from external_identity.api.resources import BINDINGS, GROUP, VERSION
from tests.operator.harness import NAMESPACE, Cluster, wait_for
from tests.operator.test_identities import bindings_count_is

pytestmark = pytest.mark.usefixtures("loopback_only")

BINDING_RESOURCE = f"{GROUP}/{VERSION}/{BINDINGS}"


def test_bindings_and_secrets_are_listed_once_and_then_only_watched(
    cluster: Cluster, account: ServiceAccount, start_operator: Callable[..., OperatorProcess],
) -> None:
    cluster.apply_identity()
    cluster.apply_apps(account.id, 3)
    start_operator()
    for name in ("app-0", "app-1", "app-2"):
        cluster.wait_ready("TokenIssued", name=name)

    def watching() -> set[str]:
        return {call.resource for call in cluster.kube.calls() if call.verb == "watch"}

    wait_for(lambda: {"serviceaccountbindings", "secrets"} <= watching(),
             message="bindings and Secrets watched after their LIST")
    lists = Counter(call.resource for call in cluster.kube.calls() if call.verb == "list")
    assert lists["serviceaccountbindings"] == 1
    assert lists["secrets"] == 1


def test_after_410_expired_the_operator_lists_again_and_misses_nothing(
    cluster: Cluster, account: ServiceAccount, start_operator: Callable[..., OperatorProcess],
) -> None:
    cluster.apply_identity()
    cluster.apply_apps(account.id, 2)
    operator = start_operator()
    for name in ("app-0", "app-1"):
        cluster.wait_ready("TokenIssued", name=name)
    wait_for(bindings_count_is(cluster, 2), message="status.bindings 2")

    with cluster.kube.outage():  # the watches break; meanwhile history is compacted away
        cluster.kube.create(cluster.binding_body(account.id, name="app-2", secret="token-2",
                                                 ttl=600))
        cluster.kube.delete(BINDING_RESOURCE, NAMESPACE, "app-0")
        cluster.kube.compact()

    # Neither change can reach the operator as a watch event: only a new LIST shows them.
    cluster.wait_ready("TokenIssued", name="app-2", timeout=45)
    wait_for(bindings_count_is(cluster, 2), timeout=45,
             message="status.bindings 2: app-0 forgotten, app-2 counted")
    wait_for(lambda: "410 Expired" in operator.output, message="the relist logged")
    assert cluster.secret("token-0") is None  # the garbage collector took it with its owner


def test_an_identity_deleted_while_its_history_is_compacted_away_is_still_revoked(
    cluster: Cluster, account: ServiceAccount, start_operator: Callable[..., OperatorProcess],
) -> None:
    cluster.apply_identity()
    cluster.apply_binding(account.id, ttl=600)
    start_operator()
    wait_for(cluster.token, message="first token")

    with cluster.kube.outage():  # no DELETED event can reach the operator: only a new LIST
        cluster.kube.delete(f"{GROUP}/{VERSION}/externalidentities", None, "local-aws")
        cluster.kube.compact()

    wait_for(lambda: cluster.secret() is None, timeout=45, message="Secret deleted")
    wait_for(lambda: (cluster.ready() or {}).get("reason") == "IdentityNotFound",
             message="Ready=False IdentityNotFound")
