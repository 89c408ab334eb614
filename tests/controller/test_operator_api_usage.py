"""What the operator asks of the API server: only its own Secrets, and no read it can spare."""

from __future__ import annotations

from collections.abc import Callable

import pytest
from support.operator import OperatorProcess
from support.peers.phase_model import ServiceAccount

from .harness import NAMESPACE, Cluster

pytestmark = pytest.mark.usefixtures("loopback_only")

MANAGED = "app.kubernetes.io/managed-by=external-identity-operator"


def test_secrets_are_listed_and_watched_with_a_server_side_label_selector(
    cluster: Cluster, account: ServiceAccount, start_operator: Callable[..., OperatorProcess],
) -> None:
    cluster.apply_identity()
    cluster.apply_binding(account.id, ttl=600)
    start_operator()
    cluster.wait_ready("TokenIssued")

    streams = [call for call in cluster.kube.calls()
               if call.resource == "secrets" and call.verb in ("list", "watch")]
    assert {call.verb for call in streams} == {"list", "watch"}
    assert {call.label_selector for call in streams} == {MANAGED}


def test_a_first_issue_reads_the_secret_once_and_creates_it(
    cluster: Cluster, account: ServiceAccount, start_operator: Callable[..., OperatorProcess],
) -> None:
    cluster.apply_identity()
    cluster.apply_binding(account.id, ttl=600)
    start_operator()
    cluster.wait_ready("TokenIssued")

    calls = [(call.verb, call.status) for call in cluster.kube.calls()
             if call.resource == "secrets" and call.namespace == NAMESPACE
             and call.name in ("phase-service-token", None) and call.verb not in ("list", "watch")]
    assert calls == [("get", 404), ("create", 201)]
