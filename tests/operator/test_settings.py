"""Operator-wide refresh settings apply to bindings that do not set their own, and only to those."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime

import pytest
from support.operator import OperatorProcess
from support.peers.phase_model import ServiceAccount

from tests.operator.harness import Cluster

pytestmark = pytest.mark.usefixtures("loopback_only")

JITTER = 0.05  # the operator takes up to this share of the lifetime off the refresh time


def refresh_share(cluster: Cluster, name: str) -> float:
    """When the binding's token is due, as a share of its granted lifetime (from status)."""
    status = cluster.binding(name)["status"]
    issued, due, expires = (
        datetime.fromisoformat(status[field])
        for field in ("lastRefreshTime", "nextRefreshTime", "expiresAt")
    )
    return (due - issued) / (expires - issued)


def test_refresh_percent_applies_to_bindings_without_a_refresh_policy(
    cluster: Cluster, account: ServiceAccount, start_operator: Callable[..., OperatorProcess],
) -> None:
    cluster.apply_identity()
    cluster.apply_binding(account.id, name="operator-default", secret="default-token", ttl=600)
    cluster.apply_binding(
        account.id, name="own-policy", secret="own-token", ttl=600,
        refreshPolicy={"refreshAtPercent": 50},
    )
    start_operator("--refresh-percent", "20")
    cluster.wait_ready("TokenIssued", name="operator-default")
    cluster.wait_ready("TokenIssued", name="own-policy")

    assert 0.20 - JITTER <= refresh_share(cluster, "operator-default") <= 0.20
    assert 0.50 - JITTER <= refresh_share(cluster, "own-policy") <= 0.50


def test_min_remaining_seconds_applies_to_bindings_without_their_own(
    cluster: Cluster, account: ServiceAccount, start_operator: Callable[..., OperatorProcess],
) -> None:
    cluster.apply_identity()
    cluster.apply_binding(account.id, name="operator-margin", secret="margin-token", ttl=600)
    cluster.apply_binding(
        account.id, name="own-margin", secret="own-margin-token", ttl=600,
        refreshPolicy={"minRemainingSeconds": 60},
    )
    start_operator("--refresh-percent", "95", "--min-remaining-seconds", "150")
    cluster.wait_ready("TokenIssued", name="operator-margin")
    cluster.wait_ready("TokenIssued", name="own-margin")

    # 95 % of 600 s is 570 s; the margin moves it to at most 450 s (operator) / 540 s (own).
    assert refresh_share(cluster, "operator-margin") <= 450 / 600
    assert 540 / 600 - JITTER <= refresh_share(cluster, "own-margin") <= 540 / 600
