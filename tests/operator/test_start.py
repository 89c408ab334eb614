"""How the operator starts and stops: the fleet issues before kopf is loaded, kopf starts even
while bindings cannot be listed, and a stop before kopf has started is clean. (An identity
deleted while kopf is still starting: see ``test_operator_revocation``.)

Each test runs the real operator process against the API emulator and the peers.
"""

from __future__ import annotations

from collections.abc import Callable

import pytest
from support.operator import OperatorProcess
from support.peers.phase_model import ServiceAccount

from tests.operator.harness import GROUP, NAMESPACE, VERSION, Cluster, wait_for
from tests.operator.test_identities import identity_ready

pytestmark = pytest.mark.usefixtures("loopback_only")

ISSUED = "payments/payments-api: issued a token"
KOPF_STARTED = "Activity 'configure' succeeded"
BINDINGS_PATH = f"/apis/{GROUP}/{VERSION}/serviceaccountbindings"


def refuse_listing_bindings(cluster: Cluster) -> None:
    for path in (BINDINGS_PATH, f"/apis/{GROUP}/{VERSION}/namespaces/{NAMESPACE}/"
                                "serviceaccountbindings"):
        cluster.kube.refuse(f"get {path}", 403, "Forbidden", "not in this test")


def test_the_first_token_is_issued_before_kopf_starts(
    cluster: Cluster, account: ServiceAccount, start_operator: Callable[..., OperatorProcess],
) -> None:
    cluster.apply_identity()
    cluster.apply_binding(account.id, ttl=600)
    operator = start_operator()
    cluster.wait_ready("TokenIssued")
    wait_for(lambda: KOPF_STARTED in operator.output, message="kopf started")
    assert operator.output.index(ISSUED) < operator.output.index(KOPF_STARTED)


def test_kopf_starts_and_writes_identity_status_while_bindings_cannot_be_listed(
    cluster: Cluster, start_operator: Callable[..., OperatorProcess],
) -> None:
    cluster.apply_identity()
    refuse_listing_bindings(cluster)
    operator = start_operator()
    ready = wait_for(lambda: identity_ready(cluster), message="the identity's Ready condition")
    assert ready["status"] == "True"
    assert "cannot list ServiceAccountBindings (Forbidden not in this test)" in operator.output


def test_a_stop_before_kopf_has_started_exits_cleanly(
    cluster: Cluster, start_operator: Callable[..., OperatorProcess],
) -> None:
    cluster.apply_identity()
    refuse_listing_bindings(cluster)
    operator = start_operator()
    # kopf waits up to 2 s for a first step that cannot come: the stop lands in that wait.
    wait_for(lambda: "cannot list ServiceAccountBindings" in operator.output,
             message="the refused LIST logged")
    assert operator.stop() == 0
    assert "Traceback" not in operator.output

