"""Misconfiguration and refusals surface as clear Ready=False conditions, never crashes."""

from __future__ import annotations

import json
from collections.abc import Callable

import httpx
import pytest
from support.operator import OperatorProcess
from support.peers.helpers import aws_account
from support.peers.phase_model import ServiceAccount

from tests.operator.harness import GROUP, NAMESPACE, VERSION, Cluster, free_port, wait_for

pytestmark = pytest.mark.usefixtures("loopback_only")


def test_a_foreign_secret_is_never_touched(
    cluster: Cluster,
    account: ServiceAccount,
    start_operator: Callable[..., OperatorProcess],
) -> None:
    before = cluster.foreign_secret()
    cluster.apply_identity()
    cluster.apply_binding(account.id, ttl=600)
    start_operator()
    condition = cluster.wait_ready("SecretConflict")
    assert "is not owned by ServiceAccountBinding 'payments-api'" in condition["message"]
    after = cluster.secret()
    assert after.metadata.resource_version == before.metadata.resource_version
    assert after.data == before.data


def test_a_missing_identity_recovers_when_it_appears(
    cluster: Cluster,
    account: ServiceAccount,
    start_operator: Callable[..., OperatorProcess],
) -> None:
    cluster.apply_binding(account.id, ttl=600)
    start_operator()
    condition = cluster.wait_ready("IdentityNotFound")
    assert "'local-aws' does not exist" in condition["message"]
    cluster.apply_identity()
    cluster.wait_ready("TokenIssued", timeout=10)


@pytest.mark.parametrize("allowed", [["team-*"], []], ids=["others", "none"])
def test_a_namespace_the_identity_does_not_allow_is_refused(
    cluster: Cluster,
    account: ServiceAccount,
    start_operator: Callable[..., OperatorProcess],
    allowed: list[str],
) -> None:
    """``allowedNamespaces: []`` allows no namespace at all (absent allows every one)."""
    cluster.apply_identity(allowedNamespaces=allowed)
    cluster.apply_binding(account.id, ttl=600)
    start_operator()
    condition = cluster.wait_ready("NamespaceNotAllowed")
    assert "spec.allowedNamespaces" in condition["message"]
    assert cluster.phase.records.requests == []


def test_ttl_above_the_identity_maximum_is_an_invalid_spec(
    cluster: Cluster,
    account: ServiceAccount,
    start_operator: Callable[..., OperatorProcess],
) -> None:
    cluster.apply_identity(maxTTL=600)
    cluster.apply_binding(account.id, ttl=601)
    start_operator()
    condition = cluster.wait_ready("InvalidSpec")
    assert "maxTTL (600s)" in condition["message"]


def test_specs_the_schema_would_reject_still_get_a_clear_condition(
    cluster: Cluster,
    start_operator: Callable[..., OperatorProcess],
) -> None:
    # The emulator does not enforce CRD schemas; a real API server rejects this at apply time.
    cluster.apply_identity()
    cluster.apply_binding("not-a-uuid", ttl=600)
    start_operator()
    condition = cluster.wait_ready("InvalidSpec")
    assert condition["message"].startswith("spec.serviceAccountId:")


def test_fixing_an_invalid_spec_recovers_without_a_restart(
    cluster: Cluster,
    account: ServiceAccount,
    start_operator: Callable[..., OperatorProcess],
) -> None:
    cluster.apply_identity()
    cluster.apply_binding("not-a-uuid", ttl=600)
    start_operator()
    cluster.wait_ready("InvalidSpec")
    cluster.custom.patch_namespaced_custom_object(
        GROUP,
        VERSION,
        NAMESPACE,
        "serviceaccountbindings",
        "payments-api",
        {"spec": {"serviceAccountId": account.id}},
    )
    cluster.wait_ready("TokenIssued", timeout=10)


def test_a_refusal_shows_the_token_services_message_and_a_warning_event(
    cluster: Cluster,
    start_operator: Callable[..., OperatorProcess],
) -> None:
    untrusted, _ = aws_account(
        cluster.phase,
        cluster.sts,
        trusted_principals=[cluster.sts.trust_pattern("unrelated-workload")],
    )
    cluster.apply_identity()
    cluster.apply_binding(untrusted.id, ttl=600)
    start_operator()
    condition = cluster.wait_ready("Rejected")
    assert "Untrusted principal" in condition["message"]
    events = wait_for(
        lambda: [e for e in cluster.events() if e.reason == "Rejected"], message="Warning event"
    )
    assert events[0].type == "Warning" and "Untrusted principal" in events[0].message
    assert cluster.secret() is None


def test_a_refusal_shows_the_principal_to_trust(
    cluster: Cluster, start_operator: Callable[..., OperatorProcess],
) -> None:
    untrusted, _ = aws_account(
        cluster.phase, cluster.sts,
        trusted_principals=[cluster.sts.trust_pattern("unrelated-workload")],
    )
    cluster.apply_identity()
    cluster.apply_binding(untrusted.id, ttl=600)
    start_operator()
    cluster.wait_ready("Rejected")
    principal = wait_for(
        lambda: cluster.binding()["status"].get("principal"), message="the principal in status"
    )
    assert principal == cluster.sts.assumed_role_arn


def test_an_sts_endpoint_mismatch_names_the_expected_endpoint_and_the_field(
    cluster: Cluster, account: ServiceAccount, start_operator: Callable[..., OperatorProcess],
) -> None:
    cluster.apply_identity(aws={"region": "eu-west-1"})  # signs for sts.eu-west-1.amazonaws.com
    cluster.apply_binding(account.id, ttl=600)
    start_operator()
    condition = cluster.wait_ready("Rejected")
    assert "STS endpoint" in condition["message"]
    assert cluster.sts.endpoint in condition["message"]
    assert "spec.aws.stsEndpoint" in condition["message"]


def test_no_token_material_in_logs_events_or_status(
    cluster: Cluster,
    account: ServiceAccount,
    start_operator: Callable[..., OperatorProcess],
    aws_env: dict[str, str],
) -> None:
    cluster.apply_identity()
    cluster.apply_binding(account.id, ttl=3)
    port = free_port()
    operator = start_operator("--metrics-port", str(port))
    wait_for(lambda: len(cluster.phase.records.tokens) >= 2, timeout=15, message="a refresh")
    cluster.phase.config.unavailable = True
    cluster.wait_ready("ExchangeFailed", timeout=10)
    cluster.phase.config.unavailable = False
    metrics = httpx.get(f"http://127.0.0.1:{port}/metrics", timeout=5).text
    operator.stop()

    secrets = [aws_env["AWS_SECRET_ACCESS_KEY"], aws_env["AWS_SESSION_TOKEN"]]
    for token in cluster.phase.records.tokens:
        secrets += [token.token, token.bearer_token, token.token_value]
    surfaces = {
        "logs": operator.output,
        "events": json.dumps([e.to_dict() for e in cluster.events()], default=str),
        "status": json.dumps(cluster.binding()["status"]),
        "annotations": json.dumps(cluster.secret().metadata.annotations),
        "metrics": metrics,
    }
    assert "issued a token" in surfaces["logs"], "the scan must see real operator logs"
    assert 'external_identity_exchanges_total{outcome="TokenIssued",provider="aws-iam"}' in metrics
    assert 'outcome="ExchangeFailed"' in metrics
    for surface, text in surfaces.items():
        for secret in secrets:
            assert secret not in text, f"secret material in {surface}"
        assert "pss_service:" not in text, f"token-shaped text in {surface}"


def test_a_refused_status_write_is_retried_not_lost(
    cluster: Cluster, account: ServiceAccount, start_operator: Callable[..., OperatorProcess],
) -> None:
    cluster.kube.refuse(
        f"patch /apis/{GROUP}/{VERSION}/namespaces/{NAMESPACE}/serviceaccountbindings/"
        "payments-api/status", 500, "InternalError", "etcdserver: request timed out", times=1)
    cluster.apply_identity()
    cluster.apply_binding(account.id, ttl=600)
    operator = start_operator()
    cluster.wait_ready("TokenIssued", timeout=10)
    assert "status not written, will retry" in operator.output
    assert len(cluster.phase.records.tokens) == 1, "the retry rewrites status, not the token"
    assert cluster.binding()["status"]["expiresAt"]


def test_the_liveness_endpoint_answers_while_the_operator_runs(
    cluster: Cluster, start_operator: Callable[..., OperatorProcess],
) -> None:
    port = free_port()
    start_operator("--liveness", f"http://127.0.0.1:{port}/healthz")
    response = wait_for(lambda: _probe(f"http://127.0.0.1:{port}/healthz"), message="liveness")
    assert response.status_code == 200


def _probe(url: str) -> httpx.Response | None:
    try:
        return httpx.get(url, timeout=2)
    except httpx.TransportError:
        return None
