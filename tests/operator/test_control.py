"""Users steer a binding: one immediate refresh on request, or no refreshing while suspended."""

from __future__ import annotations

import time
from collections.abc import Callable
from datetime import datetime
from typing import Any

import pytest
from support.operator import OperatorProcess
from support.peers.phase_model import ServiceAccount

from tests.operator.harness import GROUP, NAMESPACE, VERSION, Cluster, wait_for

pytestmark = pytest.mark.usefixtures("loopback_only")

REFRESH = "externalidentity.dev/refresh"


def patch_binding(cluster: Cluster, body: dict[str, Any]) -> None:
    cluster.custom.patch_namespaced_custom_object(
        GROUP, VERSION, NAMESPACE, "serviceaccountbindings", "payments-api", body
    )


def test_the_refresh_annotation_replaces_a_fresh_token_once(
    cluster: Cluster, account: ServiceAccount, start_operator: Callable[..., OperatorProcess],
) -> None:
    cluster.apply_identity()
    cluster.apply_binding(account.id, ttl=600)
    start_operator()
    first = wait_for(cluster.token, message="first token")

    patch_binding(cluster, {"metadata": {"annotations": {REFRESH: "rotate-1"}}})
    second = wait_for(
        lambda: (token := cluster.token()) not in (None, first) and token,
        message="a token minted on request",
    )
    wait_for(
        lambda: cluster.binding()["status"].get("handledRefreshRequest") == "rotate-1",
        message="the request recorded as handled",
    )
    assert len(cluster.phase.records.tokens) == 2
    assert cluster.token() == second


def test_a_suspended_binding_keeps_its_token_and_is_not_refreshed(
    cluster: Cluster, account: ServiceAccount, start_operator: Callable[..., OperatorProcess],
) -> None:
    cluster.apply_identity()
    cluster.apply_binding(account.id, ttl=4)
    start_operator()
    first = wait_for(cluster.token, message="first token")

    patch_binding(cluster, {"spec": {"suspend": True}})
    condition = cluster.wait_ready("Suspended")
    assert condition["status"] == "False" and "spec.suspend" in condition["message"]
    minted = len(cluster.phase.records.tokens)
    held = cluster.token()
    issued = cluster.phase.records.find_token(held or "")
    assert issued is not None
    # Past the moment the suspended token dies: it was neither replaced nor removed.
    wait_for(lambda: time.time() > issued.expires_at + 1, message="the token's expiry")
    assert len(cluster.phase.records.tokens) == minted
    assert cluster.token() == held
    assert cluster.ready()["reason"] == "Suspended"

    patch_binding(cluster, {"spec": {"suspend": False}})
    cluster.wait_ready("TokenIssued")
    assert cluster.token() not in (None, first, held)
    expires = datetime.fromisoformat(cluster.binding()["status"]["expiresAt"])
    assert expires.timestamp() > time.time()
