"""AzureProvider against the Entra peer: the proof it builds and how credentials fail."""

from __future__ import annotations

import base64
import os
from typing import Any

import jwt
import pytest
from support.peers.entra_peer import EntraPeer

from external_identity.errors import ConfigurationError, CredentialsUnavailable
from external_identity.exchange.providers.azure import AzureProvider, build_azure_credential

pytestmark = pytest.mark.usefixtures("loopback_only")


def _provider(resource: str = "https://management.azure.com/") -> AzureProvider:
    return AzureProvider(credential=build_azure_credential(environ=os.environ), resource=resource)


def _claims(encoded: str) -> dict[str, Any]:
    token = base64.b64decode(encoded, validate=True).decode()
    return jwt.decode(token, options={"verify_signature": False})


async def test_the_proof_carries_the_entra_token_base64_and_names_its_object_id(
    entra_peer: EntraPeer, entra_env: dict[str, str]
) -> None:
    provider = _provider()
    try:
        proof = await provider.proof()
    finally:
        await provider.close()
    assert (proof.provider, proof.path) == ("azure", "azure/entra/auth/")
    claims = _claims(proof.payload["azureEntra"]["jwt"])
    assert claims["oid"] == proof.principal == entra_peer.oid
    assert claims["tid"] == entra_peer.tenant_id
    assert claims["aud"].rstrip("/") == "https://management.azure.com"
    [request] = entra_peer.token_requests()
    assert (request.auth_method, request.scope) == (
        "assertion",
        "https://management.azure.com/.default",
    )


async def test_the_token_is_cached_between_proofs(
    entra_peer: EntraPeer, entra_env: dict[str, str]
) -> None:
    provider = _provider()
    try:
        first, second = await provider.proof(), await provider.proof()
    finally:
        await provider.close()
    assert first.payload == second.payload
    assert len(entra_peer.token_requests()) == 1


async def test_a_token_without_an_oid_claim_has_no_principal(
    entra_peer: EntraPeer, entra_env: dict[str, str]
) -> None:
    entra_peer.config.omit_claims = frozenset({"oid"})
    provider = _provider()
    try:
        assert (await provider.proof()).principal is None
    finally:
        await provider.close()


async def test_entra_refusing_is_credentials_unavailable_without_secrets(
    entra_peer: EntraPeer, entra_env: dict[str, str]
) -> None:
    entra_peer.config.fail_next(
        5, status=400, error="invalid_client", code=700016, message="Application not found."
    )
    provider = _provider()
    try:
        with pytest.raises(CredentialsUnavailable) as raised:
            await provider.proof()
    finally:
        await provider.close()
    message = str(raised.value)
    assert message.startswith("Entra refused to issue a token for https://management.azure.com/")
    assert "\n" not in message and "eyJ" not in message


def test_workload_identity_without_a_client_id_is_credentials_unavailable(
    entra_env: dict[str, str],
) -> None:
    environ = {k: v for k, v in entra_env.items() if k != "AZURE_CLIENT_ID"}
    with pytest.raises(CredentialsUnavailable, match="AZURE_CLIENT_ID"):
        build_azure_credential(environ=environ)


def test_a_non_https_authority_is_a_configuration_error(entra_env: dict[str, str]) -> None:
    with pytest.raises(ConfigurationError, match="https://"):
        build_azure_credential(environ=entra_env, authority="http://login.example")


async def test_an_empty_resource_is_a_configuration_error(entra_env: dict[str, str]) -> None:
    credential = build_azure_credential(environ=entra_env)
    try:
        with pytest.raises(ConfigurationError):
            AzureProvider(credential=credential, resource="  ")
    finally:
        await credential.close()


async def _principal(credential: Any) -> str | None:
    provider = AzureProvider(credential=credential)
    try:
        return (await provider.proof()).principal
    finally:
        await provider.close()


async def test_a_client_id_of_the_identity_wins_over_the_pods_for_workload_identity(
    entra_peer: EntraPeer, entra_env: dict[str, str]
) -> None:
    other = entra_peer.add_client()
    credential = build_azure_credential(environ=entra_env, client_id=other.client_id)
    assert await _principal(credential) == other.oid
    assert [r.client_id for r in entra_peer.token_requests()] == [other.client_id]


async def test_a_client_id_of_the_identity_wins_over_the_pods_for_a_service_principal(
    entra_peer: EntraPeer, entra_env: dict[str, str]
) -> None:
    """The pod's AZURE_CLIENT_ID names another app; the secret is the identity's app's."""
    other = entra_peer.add_client(secret="the-other-apps-secret")
    environ = {**entra_peer.env(workload_identity=False),
               "AZURE_CLIENT_SECRET": "the-other-apps-secret"}
    credential = build_azure_credential(environ=environ, client_id=other.client_id)
    assert await _principal(credential) == other.oid
    [request] = entra_peer.token_requests()
    assert (request.client_id, request.auth_method) == (other.client_id, "secret")


async def test_a_service_principal_is_read_from_the_given_environment(
    entra_peer: EntraPeer, entra_env: dict[str, str]
) -> None:
    environ = entra_peer.env(workload_identity=False, client_secret=True)
    credential = build_azure_credential(environ=environ)
    assert await _principal(credential) == entra_peer.oid


def test_a_service_principal_without_a_client_id_is_credentials_unavailable(
    entra_env: dict[str, str],
) -> None:
    environ = {"AZURE_TENANT_ID": entra_env["AZURE_TENANT_ID"], "AZURE_CLIENT_SECRET": "s"}
    with pytest.raises(CredentialsUnavailable, match=r"spec\.azure\.clientId"):
        build_azure_credential(environ=environ)
