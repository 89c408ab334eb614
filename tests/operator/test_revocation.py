"""Revoking access removes the token; a transient failure or someone else's Secret never does.

Each test runs the real operator process. A binding's token has a long TTL, so a Secret that
disappears within seconds was deleted because of the revocation, not a scheduled refresh.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from support.operator import OperatorProcess
from support.peers.phase_model import ServiceAccount

from tests.operator.harness import GROUP, NAMESPACE, VERSION, Cluster, wait_for

pytestmark = pytest.mark.usefixtures("loopback_only")

IDENTITY_ANNOTATION = "externalidentity.dev/identity"
#: How long a revocation may take on a busy machine; tokens in these tests live 600 s.
PROMPTLY = 20


def patch_identity(cluster: Cluster, name: str, spec: dict[str, Any]) -> None:
    cluster.custom.patch_cluster_custom_object(
        GROUP, VERSION, "externalidentities", name, {"spec": spec}
    )


def patch_binding(cluster: Cluster, spec: dict[str, Any], name: str = "payments-api") -> None:
    cluster.custom.patch_namespaced_custom_object(
        GROUP, VERSION, NAMESPACE, "serviceaccountbindings", name, {"spec": spec}
    )


def condition_is(
    cluster: Cluster, reason: str, *, says: str = "", name: str = "payments-api"
) -> Callable[[], dict[str, Any] | None]:
    """A predicate: the binding's Ready condition has ``reason`` and its message ``says``."""

    def check() -> dict[str, Any] | None:
        condition = cluster.ready(name)
        if condition is None or condition["reason"] != reason or says not in condition["message"]:
            return None
        return condition

    return check


def identity_of_secret(cluster: Cluster, name: str = "phase-service-token") -> str | None:
    secret = cluster.secret(name)
    if secret is None:
        return None
    return (secret.metadata.annotations or {}).get(IDENTITY_ANNOTATION)


def test_removing_the_namespace_from_allowed_namespaces_deletes_the_secret(
    cluster: Cluster,
    account: ServiceAccount,
    start_operator: Callable[..., OperatorProcess],
) -> None:
    cluster.apply_identity(allowedNamespaces=[NAMESPACE])
    cluster.apply_binding(account.id, ttl=600)
    start_operator()
    wait_for(cluster.token, message="first token")
    minted = len(cluster.phase.records.tokens)

    patch_identity(cluster, "local-aws", {"allowedNamespaces": ["team-*"]})
    wait_for(lambda: cluster.secret() is None, timeout=PROMPTLY, message="Secret deleted")
    condition = wait_for(
        condition_is(cluster, "NamespaceNotAllowed", says="Secret phase-service-token deleted"),
        message="NamespaceNotAllowed saying the Secret was deleted",
    )
    assert condition["status"] == "False"
    assert "spec.allowedNamespaces" in condition["message"]
    assert f"namespace {NAMESPACE!r}" in condition["message"]
    assert len(cluster.phase.records.tokens) == minted, "a revoked binding must not mint"
    status = cluster.binding()["status"]
    assert "expiresAt" not in status and "secretName" not in status, (
        "status must not describe a token that was deleted"
    )


def test_deleting_the_identity_deletes_the_secret(
    cluster: Cluster,
    account: ServiceAccount,
    start_operator: Callable[..., OperatorProcess],
) -> None:
    cluster.apply_identity()
    cluster.apply_binding(account.id, ttl=600)
    start_operator()
    wait_for(cluster.token, message="first token")

    cluster.custom.delete_cluster_custom_object(GROUP, VERSION, "externalidentities", "local-aws")
    wait_for(lambda: cluster.secret() is None, timeout=PROMPTLY, message="Secret deleted")
    condition = wait_for(
        condition_is(cluster, "IdentityNotFound", says="Secret phase-service-token deleted"),
        message="IdentityNotFound saying the Secret was deleted",
    )
    assert condition["status"] == "False"
    assert "'local-aws' does not exist" in condition["message"]


def test_pointing_the_binding_at_another_identity_replaces_the_token(
    cluster: Cluster,
    account: ServiceAccount,
    start_operator: Callable[..., OperatorProcess],
) -> None:
    cluster.apply_identity()
    cluster.apply_identity("other-aws")
    cluster.apply_binding(account.id, ttl=600)
    start_operator()
    first = wait_for(cluster.token, message="first token")
    assert identity_of_secret(cluster) == "local-aws"

    patch_binding(cluster, {"externalIdentityRef": {"name": "other-aws"}})
    wait_for(
        lambda: identity_of_secret(cluster) == "other-aws",
        timeout=PROMPTLY,
        message="a token minted through other-aws",
    )
    second = cluster.token()
    assert second is not None and second != first
    issued = cluster.phase.records.find_token(second)
    assert issued is not None, "the new token must be one the token service issued"
    assert issued.service_account_id == account.id and issued.ttl == 600
    assert issued.issued_at > cluster.phase.records.find_token(first).issued_at
    generation = cluster.binding()["metadata"]["generation"]
    ready = wait_for(
        lambda: (
            (c := cluster.ready()) is not None
            and c["reason"] == "TokenIssued"
            and cluster.binding()["status"].get("observedGeneration") == generation
            and c
        ),
        message="TokenIssued for the new generation",
    )
    assert ready["status"] == "True"


def test_an_outage_of_the_identity_a_binding_was_pointed_at_keeps_its_token(
    cluster: Cluster,
    account: ServiceAccount,
    start_operator: Callable[..., OperatorProcess],
) -> None:
    """A 503 from the token service is no refusal: the token minted through the old identity
    stays until one minted through the new identity replaces it."""
    cluster.apply_identity()
    cluster.apply_identity("other-aws")
    cluster.apply_binding(account.id, ttl=600)
    start_operator()
    first = wait_for(cluster.token, message="first token")

    cluster.phase.config.unavailable = True
    patch_binding(cluster, {"externalIdentityRef": {"name": "other-aws"}})
    wait_for(
        lambda: (cluster.binding()["status"].get("failureCount") or 0) >= 2,
        timeout=PROMPTLY, message="two failed exchanges through other-aws",
    )
    assert cluster.ready()["reason"] == "ExchangeFailed"
    assert cluster.phase.records.count(status=503) >= 2
    assert (cluster.token(), identity_of_secret(cluster)) == (first, "local-aws")

    cluster.phase.config.unavailable = False
    wait_for(lambda: identity_of_secret(cluster) == "other-aws", timeout=PROMPTLY,
             message="a token minted through other-aws")
    assert cluster.token() not in (None, first)


def test_a_refusal_by_the_identity_a_binding_was_pointed_at_deletes_the_secret(
    cluster: Cluster,
    account: ServiceAccount,
    start_operator: Callable[..., OperatorProcess],
) -> None:
    cluster.apply_identity()
    cluster.apply_identity("other-aws")
    cluster.apply_binding(account.id, ttl=600)
    start_operator()
    wait_for(cluster.token, message="first token")

    cluster.phase.fail(status=403, body={"error": "Untrusted principal"})
    patch_binding(cluster, {"externalIdentityRef": {"name": "other-aws"}})
    wait_for(lambda: cluster.secret() is None, timeout=PROMPTLY, message="Secret deleted")
    condition = wait_for(
        condition_is(cluster, "Rejected", says="Secret phase-service-token deleted"),
        message="Rejected saying the Secret was deleted",
    )
    assert "Untrusted principal" in condition["message"]
    assert len(cluster.phase.records.tokens) == 1


def test_pointing_the_binding_at_a_missing_identity_deletes_the_secret(
    cluster: Cluster,
    account: ServiceAccount,
    start_operator: Callable[..., OperatorProcess],
) -> None:
    cluster.apply_identity()
    cluster.apply_binding(account.id, ttl=600)
    start_operator()
    wait_for(cluster.token, message="first token")
    minted = len(cluster.phase.records.tokens)

    patch_binding(cluster, {"externalIdentityRef": {"name": "nowhere"}})
    wait_for(lambda: cluster.secret() is None, timeout=PROMPTLY, message="Secret deleted")
    condition = wait_for(
        condition_is(cluster, "IdentityNotFound", says="Secret phase-service-token deleted"),
        message="IdentityNotFound saying the Secret was deleted",
    )
    assert "'nowhere' does not exist" in condition["message"]
    assert len(cluster.phase.records.tokens) == minted


def test_a_transient_failure_after_an_identity_edit_keeps_the_token(
    cluster: Cluster,
    account: ServiceAccount,
    start_operator: Callable[..., OperatorProcess],
) -> None:
    """An edit that forces a new token is not a revocation: while the exchange fails, the
    Secret keeps the working token; once the service is back, the new token replaces it."""
    cluster.apply_identity(defaultTTL=600)
    cluster.apply_binding(account.id, ttl=None)
    start_operator()
    first = wait_for(cluster.token, message="first token")

    cluster.phase.config.unavailable = True
    patch_identity(cluster, "local-aws", {"defaultTTL": 900})
    failing = cluster.wait_ready("ExchangeFailed", timeout=PROMPTLY)
    assert failing["status"] == "False"
    assert cluster.token() == first, "a failed exchange must keep the working token"
    wait_for(
        lambda: (cluster.binding()["status"].get("failureCount") or 0) >= 2,
        message="a retry that failed too",
    )
    assert cluster.token() == first, "failed retries must keep the working token"
    assert cluster.phase.records.count(status=503) >= 2

    cluster.phase.config.unavailable = False
    cluster.wait_ready("TokenIssued", timeout=PROMPTLY)
    second = cluster.token()
    issued = cluster.phase.records.find_token(second or "")
    assert issued is not None and issued.ttl == 900


def test_a_foreign_secret_is_not_deleted_when_the_namespace_is_revoked(
    cluster: Cluster,
    account: ServiceAccount,
    start_operator: Callable[..., OperatorProcess],
) -> None:
    before = cluster.foreign_secret()
    cluster.apply_identity(allowedNamespaces=[NAMESPACE])
    cluster.apply_binding(account.id, ttl=600)
    start_operator()
    cluster.wait_ready("SecretConflict")

    patch_identity(cluster, "local-aws", {"allowedNamespaces": ["team-*"]})
    condition = cluster.wait_ready("NamespaceNotAllowed", timeout=PROMPTLY)
    assert "deleted" not in condition["message"]
    after = cluster.secret()
    assert after is not None, "someone else's Secret was deleted"
    assert after.metadata.resource_version == before.metadata.resource_version
    assert after.data == before.data


def test_another_bindings_secret_is_not_deleted_when_this_binding_is_revoked(
    cluster: Cluster,
    account: ServiceAccount,
    start_operator: Callable[..., OperatorProcess],
) -> None:
    """Two bindings naming one Secret: the second is refused; revoking it leaves the first's."""
    cluster.apply_identity()
    cluster.apply_binding(account.id, name="owner", ttl=600)
    start_operator()
    cluster.wait_ready("TokenIssued", name="owner")
    token = cluster.token()
    version = cluster.secret().metadata.resource_version
    cluster.apply_binding(account.id, name="intruder", ttl=600)
    cluster.wait_ready("SecretConflict", name="intruder")

    patch_binding(cluster, {"externalIdentityRef": {"name": "nowhere"}}, name="intruder")
    condition = cluster.wait_ready("IdentityNotFound", name="intruder", timeout=PROMPTLY)
    assert "deleted" not in condition["message"]
    after = cluster.secret()
    assert after is not None, "the other binding's Secret was deleted"
    assert after.metadata.resource_version == version
    assert cluster.token() == token
    assert cluster.ready("owner")["reason"] == "TokenIssued"
