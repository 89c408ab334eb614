"""The Entra peer's endpoints, spoken to directly over HTTPS with its CA."""

from __future__ import annotations

import time
from typing import Any

import httpx
import jwt
import pytest
from jwt import PyJWKClient
from support.peers.entra_peer import JWT_BEARER, EntraConfig, EntraPeer
from support.peers.entra_tokens import TokenVersion

pytestmark = pytest.mark.usefixtures("loopback_only")

MGMT = "https://management.azure.com/"


def _client(peer: EntraPeer) -> httpx.Client:
    return httpx.Client(base_url=peer.authority_host, verify=peer.ssl_context())


def _token_request(peer: EntraPeer, **form: str) -> httpx.Response:
    data = {
        "grant_type": "client_credentials",
        "client_id": peer.client_id,
        "scope": f"{MGMT}.default",
        "client_assertion_type": JWT_BEARER,
        "client_assertion": peer.federated_assertion(),
    }
    data.update(form)
    data = {k: v for k, v in data.items() if v != "-"}
    with _client(peer) as client:
        return client.post(f"/{peer.tenant_id}/oauth2/v2.0/token", data=data)


def _claims(token: str) -> dict[str, Any]:
    return jwt.decode(token, options={"verify_signature": False})


def _verify(peer: EntraPeer, token: str, version: TokenVersion = "1.0") -> dict[str, Any]:
    keys = PyJWKClient(peer.jwks_url(version), ssl_context=peer.ssl_context())
    key = keys.get_signing_key_from_jwt(token)
    return jwt.decode(token, key.key, algorithms=["RS256"], audience=[MGMT, MGMT.rstrip("/")])


def test_openid_configuration_points_msal_at_the_peers_token_endpoint(
    entra_peer: EntraPeer,
) -> None:
    with _client(entra_peer) as client:
        doc = client.get(f"/{entra_peer.tenant_id}/v2.0/.well-known/openid-configuration").json()
    assert doc["token_endpoint"] == (
        f"{entra_peer.authority_host}/{entra_peer.tenant_id}/oauth2/v2.0/token"
    )
    assert doc["jwks_uri"] == entra_peer.jwks_url("2.0")


@pytest.mark.parametrize("version", ["1.0", "2.0"])
def test_both_jwks_urls_publish_the_signing_key(
    entra_peer: EntraPeer, version: TokenVersion
) -> None:
    with _client(entra_peer) as client:
        keys = client.get(entra_peer.jwks_url(version)).json()["keys"]
    assert [k["kid"] for k in keys] == [entra_peer.signing_key.kid]
    assert keys[0]["kty"] == "RSA"


def test_a_workload_identity_assertion_gets_a_v1_token_shaped_like_entras(
    entra_peer: EntraPeer,
) -> None:
    response = _token_request(entra_peer)
    assert response.status_code == 200
    body = response.json()
    assert body["token_type"] == "Bearer"
    assert body["expires_in"] == body["ext_expires_in"] == 3599
    claims = _verify(entra_peer, body["access_token"])
    assert claims["iss"] == f"https://sts.windows.net/{entra_peer.tenant_id}/"
    assert claims["ver"] == "1.0"
    assert claims["tid"] == entra_peer.tenant_id
    assert claims["oid"] == claims["sub"] == entra_peer.oid
    assert claims["appid"] == entra_peer.client_id
    assert claims["appidacr"] == "2"
    assert claims["nbf"] <= time.time() < claims["exp"]
    assert jwt.get_unverified_header(body["access_token"])["kid"] == entra_peer.signing_key.kid


def test_v2_tokens_carry_the_v2_issuer_and_azp(entra_peer: EntraPeer) -> None:
    entra_peer.config.token_version = "2.0"
    token = _token_request(entra_peer).json()["access_token"]
    claims = _verify(entra_peer, token, "2.0")
    assert claims["iss"] == f"https://login.microsoftonline.com/{entra_peer.tenant_id}/v2.0"
    assert claims["ver"] == "2.0"
    assert claims["azp"] == entra_peer.client_id


def test_the_audience_is_the_resource_named_by_the_scope(entra_peer: EntraPeer) -> None:
    no_slash = _token_request(entra_peer, scope="https://management.azure.com/.default")
    slash = _token_request(entra_peer, scope="https://management.azure.com//.default")
    assert _claims(no_slash.json()["access_token"])["aud"] == "https://management.azure.com"
    assert _claims(slash.json()["access_token"])["aud"] == "https://management.azure.com/"


def test_a_client_secret_gets_a_token_marked_as_secret_authenticated(
    entra_peer: EntraPeer,
) -> None:
    response = _token_request(
        entra_peer,
        client_assertion="-",
        client_assertion_type="-",
        client_secret=entra_peer.client_secret,
    )
    assert response.status_code == 200
    assert _claims(response.json()["access_token"])["appidacr"] == "1"


def test_a_wrong_client_secret_is_invalid_client(entra_peer: EntraPeer) -> None:
    response = _token_request(
        entra_peer, client_assertion="-", client_assertion_type="-", client_secret="nope"
    )
    assert response.status_code == 401
    assert response.json()["error"] == "invalid_client"
    assert "AADSTS7000215" in response.json()["error_description"]


def test_a_request_without_any_client_credential_is_refused(entra_peer: EntraPeer) -> None:
    response = _token_request(entra_peer, client_assertion="-", client_assertion_type="-")
    assert response.status_code == 401
    assert response.json()["error_codes"] == [7000218]


def test_an_assertion_that_is_not_a_jwt_is_refused(entra_peer: EntraPeer) -> None:
    response = _token_request(entra_peer, client_assertion="not-a-jwt")
    assert response.status_code == 400
    assert response.json()["error_codes"] == [50027]


def test_an_assertion_for_another_audience_has_no_matching_federated_credential(
    entra_peer: EntraPeer,
) -> None:
    entra_peer.config.assertion_audience = "api://SomethingElse"
    response = _token_request(entra_peer)
    assert response.status_code == 400
    assert response.json()["error_codes"] == [70021]


def test_an_assertion_from_an_unfederated_subject_is_refused(entra_peer: EntraPeer) -> None:
    client = entra_peer.add_client(
        federated_subjects=frozenset({"system:serviceaccount:payments:api"})
    )
    refused = _token_request(entra_peer, client_id=client.client_id)
    allowed = _token_request(
        entra_peer,
        client_id=client.client_id,
        client_assertion=entra_peer.federated_assertion(
            subject="system:serviceaccount:payments:api"
        ),
    )
    assert refused.status_code == 400
    assert allowed.status_code == 200
    assert _claims(allowed.json()["access_token"])["oid"] == client.oid


def test_an_expired_assertion_is_refused(entra_peer: EntraPeer) -> None:
    response = _token_request(
        entra_peer, client_assertion=entra_peer.federated_assertion(lifetime=-10)
    )
    assert response.status_code == 400
    assert response.json()["error_codes"] == [700024]


def test_a_scope_without_default_suffix_is_invalid_scope(entra_peer: EntraPeer) -> None:
    response = _token_request(entra_peer, scope="https://management.azure.com/user_impersonation")
    assert response.status_code == 400
    assert response.json()["error"] == "invalid_scope"


def test_an_unknown_client_id_is_refused(entra_peer: EntraPeer) -> None:
    response = _token_request(entra_peer, client_id="00000000-0000-0000-0000-000000000000")
    assert response.status_code == 400
    assert response.json()["error_codes"] == [700016]


def test_an_unknown_tenant_is_refused(entra_peer: EntraPeer) -> None:
    with _client(entra_peer) as client:
        response = client.post("/not-a-tenant/oauth2/v2.0/token", data={"grant_type": "x"})
    assert response.status_code == 400
    assert response.json()["error_codes"] == [90002]


def test_injected_failures_hit_the_next_token_requests_only(entra_peer: EntraPeer) -> None:
    entra_peer.config.fail_next(1, status=503)
    assert _token_request(entra_peer).status_code == 503
    assert _token_request(entra_peer).status_code == 200
    assert [r.status for r in entra_peer.token_requests()] == [503, 200]


def test_the_v1_endpoint_takes_a_resource_and_answers_with_string_numbers(
    entra_peer: EntraPeer,
) -> None:
    with _client(entra_peer) as client:
        response = client.post(
            f"/{entra_peer.tenant_id}/oauth2/token",
            data={
                "grant_type": "client_credentials",
                "client_id": entra_peer.client_id,
                "client_secret": entra_peer.client_secret,
                "resource": MGMT,
            },
        )
    body = response.json()
    assert body["expires_in"] == "3599"
    assert body["resource"] == MGMT
    assert _claims(body["access_token"])["aud"] == MGMT


def test_forged_tokens_carry_a_published_kid_but_fail_verification(
    entra_peer: EntraPeer,
) -> None:
    entra_peer.config.signing = "forged"
    token = entra_peer.mint()
    assert jwt.get_unverified_header(token)["kid"] == entra_peer.signing_key.kid
    with pytest.raises(jwt.InvalidSignatureError):
        _verify(entra_peer, token)


def test_unknown_kid_tokens_name_a_key_the_jwks_does_not_have(entra_peer: EntraPeer) -> None:
    entra_peer.config.signing = "unknown-kid"
    with pytest.raises(jwt.PyJWKClientError):
        _verify(entra_peer, entra_peer.mint())


def test_expired_tokens_have_exp_in_the_past(entra_peer: EntraPeer) -> None:
    entra_peer.config.expired = True
    assert _claims(entra_peer.mint())["exp"] < time.time()


def test_claims_can_be_omitted_or_replaced(entra_peer: EntraPeer) -> None:
    entra_peer.config.omit_claims = frozenset({"oid"})
    entra_peer.config.audience = "https://vault.azure.net"
    entra_peer.config.claim_overrides = {"tid": "someone-else"}
    claims = _claims(entra_peer.mint())
    assert "oid" not in claims
    assert claims["aud"] == "https://vault.azure.net"
    assert claims["tid"] == "someone-else"


def test_reset_restores_defaults_between_tests(entra_peer: EntraPeer) -> None:
    entra_peer.config.signing = "forged"
    entra_peer.add_client()
    entra_peer.reset()
    assert entra_peer.config == EntraConfig()
    assert list(entra_peer.clients) == [entra_peer.client_id]
