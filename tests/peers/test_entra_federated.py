"""The Entra peer verifies client assertions against an app's federated credentials."""

from __future__ import annotations

from typing import Any

import httpx
import jwt
import pytest
from support.kube.server import KubeAPI
from support.peers.entra_peer import JWT_BEARER, EntraClient, EntraPeer, FederatedCredential

pytestmark = pytest.mark.usefixtures("loopback_only")

EXCHANGE = "api://AzureADTokenExchange"


@pytest.fixture
def app(entra_peer: EntraPeer, kube_api: KubeAPI) -> EntraClient:
    kube_api.ensure_namespace("team-b")
    core = kube_api.core_v1()
    for name in ("worker", "other"):
        core.create_namespaced_service_account("team-b", {"metadata": {"name": name}})
    return entra_peer.add_client(federated=(
        FederatedCredential(issuer=kube_api.url, subject="system:serviceaccount:team-b:worker"),
    ))


def _assertion(kube_api: KubeAPI, account: str = "worker", audience: str = EXCHANGE) -> str:
    issued = kube_api.core_v1().create_namespaced_service_account_token(
        account, "team-b", {"spec": {"audiences": [audience], "expirationSeconds": 600}}
    )
    token: str = issued.status.token
    return token


def _token_request(peer: EntraPeer, client: EntraClient, assertion: str) -> httpx.Response:
    with httpx.Client(base_url=peer.authority_host, verify=peer.ssl_context()) as http:
        return http.post(f"/{peer.tenant_id}/oauth2/v2.0/token", data={
            "grant_type": "client_credentials", "client_id": client.client_id,
            "scope": "https://management.azure.com/.default",
            "client_assertion_type": JWT_BEARER, "client_assertion": assertion,
        })


def _codes(response: httpx.Response) -> tuple[int, list[int]]:
    body: dict[str, Any] = response.json()
    return response.status_code, body.get("error_codes", [])


def test_the_federated_service_accounts_token_gets_an_access_token_for_the_app(
    entra_peer: EntraPeer, kube_api: KubeAPI, app: EntraClient
) -> None:
    response = _token_request(entra_peer, app, _assertion(kube_api))
    assert response.status_code == 200, response.text
    claims = jwt.decode(response.json()["access_token"], options={"verify_signature": False})
    assert claims["oid"] == app.oid


def test_another_service_accounts_token_has_no_matching_federated_credential(
    entra_peer: EntraPeer, kube_api: KubeAPI, app: EntraClient
) -> None:
    response = _token_request(entra_peer, app, _assertion(kube_api, "other"))
    assert _codes(response) == (400, [70021])
    assert "system:serviceaccount:team-b:other" in response.json()["error_description"]


def test_a_token_for_another_audience_has_no_matching_federated_credential(
    entra_peer: EntraPeer, kube_api: KubeAPI, app: EntraClient
) -> None:
    response = _token_request(entra_peer, app, _assertion(kube_api, audience="sts.amazonaws.com"))
    assert _codes(response) == (400, [70021])


def test_a_forged_signature_fails_signature_validation(
    entra_peer: EntraPeer, kube_api: KubeAPI, app: EntraClient
) -> None:
    header, payload, signature = _assertion(kube_api).split(".")
    tampered = signature[:-4] + ("AAAA" if signature[-4:] != "AAAA" else "BBBB")
    response = _token_request(entra_peer, app, f"{header}.{payload}.{tampered}")
    assert _codes(response) == (400, [700027])
