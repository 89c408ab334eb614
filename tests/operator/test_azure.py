"""The operator with an Azure identity: workload identity → Entra peer → token service."""

from __future__ import annotations

import os
from collections.abc import Callable

import pytest
from support.operator import OperatorProcess
from support.peers.entra_peer import EntraPeer

from tests.operator.harness import Cluster, wait_for

pytestmark = pytest.mark.usefixtures("loopback_only")


def _apply_azure_identity(cluster: Cluster, entra_peer: EntraPeer, **azure: str) -> None:
    body = cluster.identity_body("local-azure", provider="azure",
                                 azure={"tenantId": entra_peer.tenant_id,
                                        "authorityHost": entra_peer.authority_host, **azure})
    del body["spec"]["aws"]
    cluster.custom.create_cluster_custom_object(
        "externalidentity.dev", "v1alpha1", "externalidentities", body)


def _azure_env(operator_env: dict[str, str], entra_peer: EntraPeer) -> dict[str, str]:
    """The operator's environment with the Entra peer's workload identity and no AWS."""
    env = {k: v for k, v in operator_env.items() if not k.startswith("AWS_")}
    return {**env, **entra_peer.env(), "PATH": os.environ.get("PATH", "")}


def test_azure_binding_gets_a_token_and_reports_the_object_id(
    cluster: Cluster, entra_peer: EntraPeer, operator_env: dict[str, str],
    start_operator: Callable[..., OperatorProcess],
) -> None:
    account = cluster.phase.add_service_account()
    cluster.phase.add_azure_identity(account, tenant_id=entra_peer.tenant_id,
                                     allowed_service_principals=[entra_peer.oid])
    _apply_azure_identity(cluster, entra_peer)
    cluster.apply_binding(account.id, identity="local-azure", ttl=600)
    start_operator(env=_azure_env(operator_env, entra_peer))
    cluster.wait_ready("TokenIssued")
    token = wait_for(cluster.token, message="token")
    issued = cluster.phase.records.find_token(token)
    assert issued is not None and issued.provider == "azure"
    assert cluster.binding()["status"]["principal"] == entra_peer.oid


def test_an_azure_identity_shows_the_object_id_it_proves_before_any_exchange(
    cluster: Cluster, entra_peer: EntraPeer, operator_env: dict[str, str],
    start_operator: Callable[..., OperatorProcess],
) -> None:
    _apply_azure_identity(cluster, entra_peer)
    start_operator(env=_azure_env(operator_env, entra_peer))

    def principal() -> str | None:
        identity = cluster.custom.get_cluster_custom_object(
            "externalidentity.dev", "v1alpha1", "externalidentities", "local-azure")
        return (identity.get("status") or {}).get("principal")

    assert wait_for(principal, message="status.principal from the probe") == entra_peer.oid
    assert cluster.phase.records.requests == [], "a probe must not exchange"


@pytest.mark.parametrize("credential", ["workload-identity", "service-principal"])
def test_the_identitys_client_id_wins_over_the_pods(
    cluster: Cluster, entra_peer: EntraPeer, operator_env: dict[str, str],
    start_operator: Callable[..., OperatorProcess], credential: str,
) -> None:
    """The pod's AZURE_CLIENT_ID names another app (for something else); spec.azure.clientId
    names the app this identity signs in as, with a federated token or with its secret."""
    app = entra_peer.add_client(secret="the-identitys-app-secret")
    account = cluster.phase.add_service_account()
    cluster.phase.add_azure_identity(account, tenant_id=entra_peer.tenant_id,
                                     allowed_service_principals=[app.oid])
    _apply_azure_identity(cluster, entra_peer, clientId=app.client_id)
    cluster.apply_binding(account.id, identity="local-azure", ttl=600)
    env = _azure_env(operator_env, entra_peer)
    if credential == "service-principal":
        del env["AZURE_FEDERATED_TOKEN_FILE"]
        env["AZURE_CLIENT_SECRET"] = "the-identitys-app-secret"
    assert env["AZURE_CLIENT_ID"] == entra_peer.client_id != app.client_id
    start_operator(env=env)

    cluster.wait_ready("TokenIssued")
    assert cluster.binding()["status"]["principal"] == app.oid
    assert {r.client_id for r in entra_peer.token_requests()} == {app.client_id}
