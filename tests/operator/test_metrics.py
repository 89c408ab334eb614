"""The metrics an on-call engineer alerts on, read from the real operator's /metrics."""

from __future__ import annotations

from collections.abc import Callable

import httpx
import pytest
from support.operator import OperatorProcess
from support.peers.phase_model import ServiceAccount

from external_identity.api.resources import BINDINGS, GROUP, VERSION
from external_identity.api.times import parse_rfc3339
from external_identity.secrets.data import EXPIRES_AT_ANNOTATION
from tests.operator.harness import NAMESPACE, Cluster, free_port, metric, wait_for

pytestmark = pytest.mark.usefixtures("loopback_only")

SERIES = f'{{binding="payments-api",namespace="{NAMESPACE}"}}'
EXPIRY = "external_identity_token_expiry_timestamp_seconds" + SERIES
TTL = "external_identity_token_ttl_seconds" + SERIES


def _outcome(reason: str) -> str:
    return (f'external_identity_last_refresh_outcome{{binding="payments-api",'
            f'namespace="{NAMESPACE}",reason="{reason}"}}')


def _writes(operation: str, result: str) -> str:
    return f'external_identity_secret_writes_total{{operation="{operation}",result="{result}"}}'


def _issue_one_token(
    cluster: Cluster, account: ServiceAccount, start_operator: Callable[..., OperatorProcess],
) -> int:
    """One binding Ready, through an operator serving metrics; the metrics port."""
    cluster.apply_identity()
    cluster.apply_binding(account.id, ttl=600)
    port = free_port()
    start_operator("--metrics-port", str(port))
    cluster.wait_ready("TokenIssued")
    return port


def test_an_issued_token_shows_its_expiry_ttl_outcome_and_write(
    cluster: Cluster, account: ServiceAccount, start_operator: Callable[..., OperatorProcess],
) -> None:
    port = _issue_one_token(cluster, account, start_operator)

    expiry = wait_for(lambda: metric(port, EXPIRY), message="the expiry series")
    status = cluster.binding()["status"]
    expires_at = parse_rfc3339(status["expiresAt"])
    assert expires_at is not None
    assert expiry == pytest.approx(expires_at.timestamp(), abs=1)
    assert metric(port, TTL) == pytest.approx(600, abs=1)
    assert metric(port, _outcome("TokenIssued")) == 1
    assert metric(port, _writes("create", "ok")) == 1
    assert metric(port, "external_identity_bindings") == 1
    assert metric(port, "external_identity_bindings_ready") == 1


def test_a_failed_attempt_replaces_the_outcome_and_a_deleted_binding_leaves_no_series(
    cluster: Cluster, account: ServiceAccount, start_operator: Callable[..., OperatorProcess],
) -> None:
    port = _issue_one_token(cluster, account, start_operator)
    wait_for(lambda: metric(port, _outcome("TokenIssued")), message="the success outcome")

    cluster.phase.config.unavailable = True
    cluster.custom.patch_namespaced_custom_object(
        GROUP, VERSION, NAMESPACE, BINDINGS, "payments-api", {"spec": {"ttl": 900}},
    )
    reason = wait_for(
        lambda: (cluster.ready() or {}).get("reason") not in (None, "TokenIssued")
        and cluster.ready()["reason"], message="the failure condition")
    wait_for(lambda: metric(port, _outcome(reason)), message=f"the {reason} outcome")
    assert metric(port, _outcome("TokenIssued")) is None
    assert metric(port, EXPIRY) is not None, "the token in the Secret is still valid"

    cluster.custom.delete_namespaced_custom_object(
        GROUP, VERSION, NAMESPACE, BINDINGS, "payments-api"
    )
    wait_for(lambda: metric(port, "external_identity_bindings") == 0,
             message="the binding forgotten")
    assert metric(port, EXPIRY) is None
    assert metric(port, _outcome(reason)) is None
    assert metric(port, "external_identity_bindings_ready") == 0


def _scrape(port: int) -> str | None:
    """The whole /metrics page; None while nothing answers."""
    try:
        reply = httpx.get(f"http://127.0.0.1:{port}/metrics", timeout=5)
    except httpx.HTTPError:
        return None
    return reply.text if reply.status_code == 200 else None


def _sample(page: str, sample: str) -> float | None:
    for line in page.splitlines():
        name, _, value = line.partition(" ")
        if name == sample:
            return float(value)
    return None


def test_a_binding_failing_its_refresh_has_its_series_from_the_first_scrape_after_a_restart(
    cluster: Cluster, account: ServiceAccount, start_operator: Callable[..., OperatorProcess],
) -> None:
    cluster.apply_identity()
    cluster.apply_binding(account.id, ttl=600)
    port = free_port()
    first = start_operator("--metrics-port", str(port))
    cluster.wait_ready("TokenIssued")
    cluster.phase.config.unavailable = True
    cluster.custom.patch_namespaced_custom_object(
        GROUP, VERSION, NAMESPACE, BINDINGS, "payments-api", {"spec": {"ttl": 900}},
    )
    wait_for(lambda: (cluster.ready() or {}).get("reason") not in (None, "TokenIssued"),
             message="the refresh failing")
    first.stop()
    annotations = cluster.secret().metadata.annotations
    expires_at = parse_rfc3339(annotations[EXPIRES_AT_ANNOTATION])
    assert expires_at is not None

    start_operator("--metrics-port", str(port))
    page = wait_for(lambda: _scrape(port), message="the first scrape after the restart")
    assert _sample(page, EXPIRY) == pytest.approx(expires_at.timestamp(), abs=1)
    assert _sample(page, TTL) == pytest.approx(600, abs=1)

    attempts = len(cluster.phase.records.requests)
    wait_for(lambda: len(cluster.phase.records.requests) > attempts,
             message="a refresh failing after the restart")
    wait_for(lambda: any(f'reason="{reason}"' in (_scrape(port) or "")
                         for reason in ("ExchangeFailed", "Rejected")),
             message="the failure's outcome")
    assert metric(port, EXPIRY) == pytest.approx(expires_at.timestamp(), abs=1), (
        "the old token is still in the Secret")


def test_a_binding_deleted_while_its_exchange_is_in_flight_leaves_no_series(
    cluster: Cluster, account: ServiceAccount, start_operator: Callable[..., OperatorProcess],
) -> None:
    cluster.apply_identity()
    port = free_port()
    operator = start_operator("--metrics-port", str(port))
    cluster.phase.hang(seconds=60)
    cluster.apply_binding(account.id, ttl=600)
    wait_for(cluster.phase.hanging.is_set, message="the exchange in flight")
    cluster.custom.delete_namespaced_custom_object(
        GROUP, VERSION, NAMESPACE, BINDINGS, "payments-api"
    )
    wait_for(lambda: metric(port, "external_identity_bindings") == 0,
             message="the binding forgotten")

    cluster.phase.release()
    wait_for(lambda: [r for r in cluster.phase.records.requests if r.status == 200],
             message="the exchange answered")
    wait_for(lambda: f"{NAMESPACE}/payments-api: issued a token" in operator.output,
             message="the step that carried the exchange to its end")
    page = _scrape(port)
    assert page is not None
    assert "payments-api" not in page, "a series of the deleted binding came back"
