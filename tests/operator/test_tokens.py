"""The real operator keeps a binding's Secret holding a valid token from the token service."""

from __future__ import annotations

import base64
from collections.abc import Callable

import pytest
from support.operator import OperatorProcess
from support.peers.phase_model import ServiceAccount

from tests.operator.harness import GROUP, NAMESPACE, VERSION, Cluster, wait_for

pytestmark = pytest.mark.usefixtures("loopback_only")


def test_binding_gets_a_secret_with_an_issued_token_and_ready_status(
    cluster: Cluster,
    account: ServiceAccount,
    start_operator: Callable[..., OperatorProcess],
) -> None:
    cluster.apply_identity()
    binding = cluster.apply_binding(account.id, ttl=600)
    start_operator()
    ready = cluster.wait_ready("TokenIssued")
    assert ready["status"] == "True"

    secret = cluster.secret()
    token = base64.b64decode(secret.data["token"]).decode()
    issued = cluster.phase.records.find_token(token)
    assert issued is not None and issued.ttl == 600
    assert base64.b64decode(secret.data["bearerToken"]).decode() == issued.bearer_token
    assert set(secret.data) == {"token", "bearerToken", "expiresAt"}
    assert secret.metadata.labels["app.kubernetes.io/managed-by"] == "external-identity-operator"
    [owner] = secret.metadata.owner_references
    assert (owner.kind, owner.name, owner.uid) == (
        "ServiceAccountBinding",
        "payments-api",
        binding["metadata"]["uid"],
    )
    assert owner.controller is True

    status = cluster.binding()["status"]
    assert status["ttl"] == 600
    assert status["secretName"] == "phase-service-token"
    assert status["principal"] == cluster.sts.assumed_role_arn
    assert status["observedGeneration"] == cluster.binding()["metadata"]["generation"]
    assert status["expiresAt"] > status["nextRefreshTime"] > status["lastRefreshTime"]
    assert secret.metadata.annotations["externalidentity.dev/expires-at"] == status["expiresAt"]


def test_tokens_are_refreshed_before_they_expire_and_never_held_stale(
    cluster: Cluster,
    account: ServiceAccount,
    start_operator: Callable[..., OperatorProcess],
) -> None:
    cluster.apply_identity()
    cluster.apply_binding(account.id, ttl=4)
    start_operator()
    wait_for(cluster.token, message="first token")
    observed = list(cluster.watch_tokens(10))

    seen: list[str] = []
    for at, token in observed:
        assert token is not None, "the Secret was blank"
        issued = cluster.phase.records.find_token(token)
        assert issued is not None, "the Secret held a token the service never issued"
        assert issued.valid_at(at), f"expired token in the Secret {at - issued.expires_at:.2f}s"
        if not seen or seen[-1] != token:
            seen.append(token)
    assert len(seen) >= 3, "expected at least two refreshes"


def test_a_token_service_outage_keeps_the_old_token_until_it_returns(
    cluster: Cluster,
    account: ServiceAccount,
    start_operator: Callable[..., OperatorProcess],
) -> None:
    cluster.apply_identity()
    cluster.apply_binding(account.id, ttl=8)
    start_operator()
    first = wait_for(cluster.token, message="first token")
    cluster.phase.config.unavailable = True
    failing = cluster.wait_ready("ExchangeFailed", timeout=15)
    assert failing["status"] == "False" and "unavailable" in failing["message"]
    assert cluster.token() == first, "a failed refresh must keep the working token"
    outage_events = [e for e in cluster.events() if e.reason == "ExchangeFailed"]
    assert outage_events and outage_events[0].type == "Warning"

    cluster.phase.config.unavailable = False
    cluster.wait_ready("TokenIssued", timeout=10)
    second = cluster.token()
    assert second != first
    issued_first = cluster.phase.records.find_token(first)
    issued_second = cluster.phase.records.find_token(second or "")
    assert issued_first is not None and issued_second is not None
    assert issued_second.issued_at < issued_first.expires_at, "there was a gap without a token"


def test_an_outage_past_expiry_is_reported_as_expired(
    cluster: Cluster,
    account: ServiceAccount,
    start_operator: Callable[..., OperatorProcess],
) -> None:
    cluster.apply_identity()
    cluster.apply_binding(account.id, ttl=3)
    start_operator()
    wait_for(cluster.token, message="first token")
    cluster.phase.config.unavailable = True
    expired = cluster.wait_ready("Expired", timeout=15)
    assert "token expired at" in expired["message"]
    assert cluster.token() is not None, "an expired token is kept, never blanked"


def test_rate_limiting_is_honoured(
    cluster: Cluster,
    account: ServiceAccount,
    start_operator: Callable[..., OperatorProcess],
) -> None:
    cluster.phase.rate_limit(retry_after=2)
    cluster.apply_identity()
    cluster.apply_binding(account.id, ttl=600)
    start_operator()
    cluster.wait_ready("ExchangeFailed")
    limited_at = cluster.phase.records.requests[0].received_at
    cluster.wait_ready("TokenIssued", timeout=15)
    retried_at = cluster.phase.records.requests[1].received_at
    assert retried_at - limited_at >= 1.9


def test_deleted_or_edited_secret_is_rewritten_promptly(
    cluster: Cluster,
    account: ServiceAccount,
    start_operator: Callable[..., OperatorProcess],
) -> None:
    cluster.apply_identity()
    cluster.apply_binding(account.id, ttl=600)
    start_operator()
    token = wait_for(cluster.token, message="first token")

    cluster.core.delete_namespaced_secret("phase-service-token", NAMESPACE)
    assert wait_for(cluster.token, timeout=5, message="restored Secret") == token

    secret = cluster.secret()
    secret.data["token"] = base64.b64encode(b"tampered").decode()
    cluster.core.replace_namespaced_secret("phase-service-token", NAMESPACE, secret)
    wait_for(lambda: cluster.token() == token, timeout=5, message="repaired data")
    assert len(cluster.phase.records.tokens) == 1, "repairs reuse the valid token"


def test_deleting_the_binding_removes_its_secret(
    cluster: Cluster,
    account: ServiceAccount,
    start_operator: Callable[..., OperatorProcess],
) -> None:
    cluster.apply_identity()
    cluster.apply_binding(account.id, ttl=600)
    start_operator()
    wait_for(cluster.token, message="first token")
    cluster.custom.delete_namespaced_custom_object(
        "externalidentity.dev", "v1alpha1", NAMESPACE, "serviceaccountbindings", "payments-api"
    )
    wait_for(lambda: cluster.secret() is None, timeout=10, message="Secret deleted")
    wait_for(
        lambda: (
            not cluster.kube.select(
                "externalidentity.dev/v1alpha1/serviceaccountbindings", NAMESPACE
            )
        ),
        timeout=10,
        message="binding gone",
    )


def test_editing_the_identity_reissues_its_bindings_tokens(
    cluster: Cluster, account: ServiceAccount, start_operator: Callable[..., OperatorProcess],
) -> None:
    cluster.apply_identity(defaultTTL=600)
    cluster.apply_binding(account.id, ttl=None)
    start_operator()
    first = wait_for(cluster.token, message="first token")
    # The Secret is written before the status: wait for the status itself.
    wait_for(lambda: (cluster.binding().get("status") or {}).get("ttl") == 600,
             message="the TTL in status")
    cluster.custom.patch_cluster_custom_object(
        "externalidentity.dev", "v1alpha1", "externalidentities", "local-aws",
        {"spec": {"defaultTTL": 900}})
    wait_for(lambda: cluster.token() not in (None, first), timeout=10, message="a new token")
    wait_for(
        lambda: cluster.binding()["status"].get("ttl") == 900, message="the new TTL in status"
    )


def test_a_phase_env_secret_of_a_custom_type_is_ready_for_env_from(
    cluster: Cluster, account: ServiceAccount, start_operator: Callable[..., OperatorProcess],
) -> None:
    cluster.apply_identity()
    body = cluster.binding_body(account.id, ttl=600)
    body["spec"]["secret"] = {
        "name": "phase-env", "format": "PhaseEnv", "type": "example.com/phase",
    }
    cluster.custom.create_namespaced_custom_object(
        GROUP, VERSION, NAMESPACE, "serviceaccountbindings", body
    )
    start_operator()
    cluster.wait_ready("TokenIssued")

    secret = cluster.secret("phase-env")
    data = {key: base64.b64decode(value).decode() for key, value in secret.data.items()}
    assert set(data) == {"token", "PHASE_SERVICE_TOKEN", "PHASE_HOST"}
    assert data["PHASE_SERVICE_TOKEN"] == data["token"]
    assert cluster.phase.records.find_token(data["token"]) is not None
    assert data["PHASE_HOST"] == cluster.phase.base_url
    assert secret.type == "example.com/phase"


def test_at_info_the_log_has_the_operators_lines_not_kopfs_per_object_chatter(
    cluster: Cluster, account: ServiceAccount, start_operator: Callable[..., OperatorProcess],
) -> None:
    cluster.apply_identity()
    cluster.apply_binding(account.id, ttl=600)
    operator = start_operator("--log-level", "INFO")
    cluster.wait_ready("TokenIssued")
    wait_for(lambda: "issued a token" in operator.output, message="the operator's own line")
    assert "Handler 'binding_changed'" not in operator.output
