"""azure-identity's own credentials, sync and async, obtain tokens from the Entra peer."""

from __future__ import annotations

import subprocess
import sys
from typing import Any

import jwt
import pytest
from azure.core.exceptions import ClientAuthenticationError
from azure.identity import ClientSecretCredential, WorkloadIdentityCredential
from azure.identity.aio import ClientSecretCredential as AsyncClientSecretCredential
from azure.identity.aio import WorkloadIdentityCredential as AsyncWorkloadIdentityCredential
from support.peers.entra_peer import EntraPeer

pytestmark = pytest.mark.usefixtures("loopback_only")

SCOPE = "https://management.azure.com/.default"


def _claims(token: str) -> dict[str, Any]:
    return jwt.decode(token, options={"verify_signature": False})


def test_sync_workload_identity_credential_reads_the_env_and_gets_a_token(
    entra_env: dict[str, str], entra_peer: EntraPeer
) -> None:
    credential = WorkloadIdentityCredential(disable_instance_discovery=True)
    token = credential.get_token(SCOPE)
    assert _claims(token.token)["oid"] == entra_peer.oid
    [request] = entra_peer.token_requests()
    assert request.auth_method == "assertion"
    assert request.scope == SCOPE


def test_sync_client_secret_credential_discovers_the_tenant_then_gets_a_token(
    entra_env: dict[str, str], entra_peer: EntraPeer
) -> None:
    credential = ClientSecretCredential(
        entra_peer.tenant_id,
        entra_peer.client_id,
        entra_peer.client_secret,
        authority=entra_peer.authority_host,
        disable_instance_discovery=True,
    )
    token = credential.get_token(SCOPE)
    assert _claims(token.token)["appidacr"] == "1"
    paths = [r.path for r in entra_peer.requests]
    assert paths == [
        f"/{entra_peer.tenant_id}/v2.0/.well-known/openid-configuration",
        f"/{entra_peer.tenant_id}/oauth2/v2.0/token",
    ]


def test_sync_client_secret_credential_without_disabling_instance_discovery_calls_microsoft(
    entra_env: dict[str, str], entra_peer: EntraPeer
) -> None:
    """MSAL asks https://login.microsoftonline.com/common/discovery/instance about any
    authority it does not know; loopback_only refuses, so the credential fails."""
    credential = ClientSecretCredential(
        entra_peer.tenant_id,
        entra_peer.client_id,
        entra_peer.client_secret,
        authority=entra_peer.authority_host,
        retry_total=0,
    )
    with pytest.raises(ClientAuthenticationError, match=r"login\.microsoftonline\.com"):
        credential.get_token(SCOPE)
    assert entra_peer.requests == []


def test_sync_credentials_surface_entras_error_description(
    entra_env: dict[str, str], entra_peer: EntraPeer
) -> None:
    credential = ClientSecretCredential(
        entra_peer.tenant_id,
        entra_peer.client_id,
        "wrong-secret",
        authority=entra_peer.authority_host,
        disable_instance_discovery=True,
    )
    with pytest.raises(ClientAuthenticationError, match="AADSTS7000215"):
        credential.get_token(SCOPE)


async def test_async_workload_identity_credential_gets_a_token_over_aiohttp(
    entra_env: dict[str, str], entra_peer: EntraPeer
) -> None:
    async with AsyncWorkloadIdentityCredential(disable_instance_discovery=True) as credential:
        token = await credential.get_token(SCOPE)
    assert _claims(token.token)["tid"] == entra_peer.tenant_id
    assert [r.auth_method for r in entra_peer.token_requests()] == ["assertion"]


async def test_async_client_secret_credential_posts_straight_to_the_token_endpoint(
    entra_env: dict[str, str], entra_peer: EntraPeer
) -> None:
    async with AsyncClientSecretCredential(
        entra_peer.tenant_id,
        entra_peer.client_id,
        entra_peer.client_secret,
        authority=entra_peer.authority_host,
        disable_instance_discovery=True,
    ) as credential:
        token = await credential.get_token(SCOPE)
    assert _claims(token.token)["appid"] == entra_peer.client_id
    assert [r.path for r in entra_peer.requests] == [f"/{entra_peer.tenant_id}/oauth2/v2.0/token"]


async def test_async_credentials_accept_the_ca_bundle_as_connection_verify(
    entra_peer: EntraPeer,
) -> None:
    async with AsyncClientSecretCredential(
        entra_peer.tenant_id,
        entra_peer.client_id,
        entra_peer.client_secret,
        authority=entra_peer.authority_host,
        connection_verify=str(entra_peer.ca_bundle_path),
    ) as credential:
        token = await credential.get_token(SCOPE)
    assert _claims(token.token)["oid"] == entra_peer.oid


async def test_async_workload_identity_with_an_unfederated_subject_is_refused(
    entra_env: dict[str, str], entra_peer: EntraPeer
) -> None:
    entra_peer.clients[entra_peer.client_id] = entra_peer.add_client(
        client_id=entra_peer.client_id,
        oid=entra_peer.oid,
        federated_subjects=frozenset({"system:serviceaccount:other:sa"}),
    )
    async with AsyncWorkloadIdentityCredential(disable_instance_discovery=True) as credential:
        with pytest.raises(ClientAuthenticationError, match="AADSTS70021"):
            await credential.get_token(SCOPE)


def test_aiohttp_ignores_ssl_cert_file_set_after_it_was_imported(entra_peer: EntraPeer) -> None:
    """Why ``entra_env`` also patches aiohttp's default SSL context."""
    script = f"""
import asyncio, os, aiohttp
os.environ["SSL_CERT_FILE"] = {str(entra_peer.ca_bundle_path)!r}
async def main():
    async with aiohttp.ClientSession() as session:
        try:
            await session.get({entra_peer.jwks_url()!r})
        except aiohttp.ClientConnectorCertificateError:
            print("untrusted")
asyncio.run(main())
"""
    result = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, timeout=60, check=True
    )
    assert result.stdout.strip() == "untrusted"
