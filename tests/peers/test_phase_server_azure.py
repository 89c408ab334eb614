"""Every Azure check of the Phase peer fires; the JWKS comes from the Entra peer over HTTPS."""

from __future__ import annotations

import base64
import uuid
from typing import Any

import pytest
from azure.identity.aio import WorkloadIdentityCredential
from support.peers.entra_peer import EntraPeer
from support.peers.helpers import post
from support.peers.phase_model import AzureEntraIdentity, ServiceAccount
from support.peers.phase_server import PhaseServer
from support.peers.proofs import azure_entra_payload

pytestmark = pytest.mark.usefixtures("loopback_only")

FAILED = {"error": "Azure JWT validation failed"}


def _account(
    server: PhaseServer, entra: EntraPeer, **settings: Any
) -> tuple[ServiceAccount, AzureEntraIdentity]:
    account = server.add_service_account()
    settings.setdefault("allowed_service_principals", [entra.oid])
    identity = server.add_azure_identity(account, tenant_id=entra.tenant_id, **settings)
    return account, identity


def _send(
    server: PhaseServer, account: ServiceAccount, token: str, ttl: int | None = None
) -> tuple[int, Any]:
    response = post(server, "azure", azure_entra_payload(token, account_id=account.id, ttl=ttl))
    return response.status_code, response.json()


def _reason(server: PhaseServer) -> str:
    return server.records.requests[-1].reason or ""


async def test_a_token_from_azure_identity_is_exchanged_for_a_service_token(
    phase_server: PhaseServer, entra_peer: EntraPeer, entra_env: dict[str, str]
) -> None:
    account, _ = _account(phase_server, entra_peer)
    async with WorkloadIdentityCredential(disable_instance_discovery=True) as credential:
        access = await credential.get_token("https://management.azure.com/.default")
    status, body = _send(phase_server, account, access.token, ttl=900)
    assert status == 200
    assert body["authentication"]["TTL"] == 900
    [issued] = phase_server.records.tokens
    assert (issued.provider, issued.principal) == ("azure", entra_peer.oid)


def test_v2_tokens_are_checked_against_the_v2_issuer_and_keys(
    phase_server: PhaseServer, entra_peer: EntraPeer
) -> None:
    account, _ = _account(phase_server, entra_peer)
    entra_peer.config.token_version = "2.0"
    assert _send(phase_server, account, entra_peer.mint())[0] == 200
    assert any(r.path.endswith("/discovery/v2.0/keys") for r in entra_peer.requests)


@pytest.mark.parametrize(
    "resource", ["https://management.azure.com", "https://management.azure.com/"]
)
def test_the_audience_matches_with_or_without_a_trailing_slash(
    phase_server: PhaseServer, entra_peer: EntraPeer, resource: str
) -> None:
    account, _ = _account(phase_server, entra_peer)
    assert _send(phase_server, account, entra_peer.mint(resource=resource))[0] == 200


def test_a_missing_jwt_is_400(phase_server: PhaseServer) -> None:
    response = post(phase_server, "azure", {"account": {"type": "service", "id": "x"}})
    assert (response.status_code, response.json()) == (400, {"error": "Missing azureEntra.jwt"})


def test_a_jwt_that_is_not_base64_is_400(phase_server: PhaseServer, entra_peer: EntraPeer) -> None:
    payload = {"account": {"type": "service", "id": "x"}, "azureEntra": {"jwt": entra_peer.mint()}}
    response = post(phase_server, "azure", payload)
    assert (response.status_code, response.json()) == (400, {"error": "Invalid JWT encoding"})


def test_an_unknown_account_is_404(phase_server: PhaseServer, entra_peer: EntraPeer) -> None:
    status, body = _send(phase_server, ServiceAccount(), entra_peer.mint())
    assert (status, body) == (404, {"error": "Service account not found"})


def test_an_account_without_key_management_is_403(
    phase_server: PhaseServer, entra_peer: EntraPeer
) -> None:
    account, _ = _account(phase_server, entra_peer)
    account.key_management = False
    status, body = _send(phase_server, account, entra_peer.mint())
    assert (status, body) == (403, {"error": "Server-side key management must be enabled"})


def test_an_account_without_an_azure_identity_is_404(
    phase_server: PhaseServer, entra_peer: EntraPeer
) -> None:
    account = phase_server.add_service_account()
    status, body = _send(phase_server, account, entra_peer.mint())
    assert (status, body) == (404, {"error": "No Azure identity attached to this account"})


def test_with_several_identities_the_tokens_tid_picks_one(
    phase_server: PhaseServer, entra_peer: EntraPeer
) -> None:
    account = phase_server.add_service_account()
    other = entra_peer.add_tenant()
    phase_server.add_azure_identity(
        account,
        tenant_id=entra_peer.tenant_id,
        allowed_service_principals=[entra_peer.oid],
        default_ttl=111,
    )
    phase_server.add_azure_identity(
        account, tenant_id=other, allowed_service_principals=[entra_peer.oid], default_ttl=222
    )
    status, body = _send(phase_server, account, entra_peer.mint(tenant_id=other))
    assert status == 200
    assert body["authentication"]["TTL"] == 222


def test_with_several_identities_a_tid_matching_none_is_404(
    phase_server: PhaseServer, entra_peer: EntraPeer
) -> None:
    account = phase_server.add_service_account()
    for _ in range(2):
        phase_server.add_azure_identity(
            account, tenant_id=str(uuid.uuid4()), allowed_service_principals=[entra_peer.oid]
        )
    status, body = _send(phase_server, account, entra_peer.mint())
    assert (status, body) == (404, {"error": "No matching Azure identity for this tenant"})


def test_a_tenant_id_that_is_not_a_uuid_fails_validation(
    phase_server: PhaseServer, entra_peer: EntraPeer
) -> None:
    account, identity = _account(phase_server, entra_peer)
    identity.tenant_id = "contoso.onmicrosoft.com"
    assert _send(phase_server, account, entra_peer.mint()) == (401, FAILED)
    assert "Invalid tenant ID format" in _reason(phase_server)


def test_a_forged_signature_is_401(phase_server: PhaseServer, entra_peer: EntraPeer) -> None:
    account, _ = _account(phase_server, entra_peer)
    entra_peer.config.signing = "forged"
    assert _send(phase_server, account, entra_peer.mint()) == (401, FAILED)
    assert "InvalidSignatureError" in _reason(phase_server)


def test_a_key_missing_from_the_jwks_is_401(
    phase_server: PhaseServer, entra_peer: EntraPeer
) -> None:
    account, _ = _account(phase_server, entra_peer)
    entra_peer.config.signing = "unknown-kid"
    assert _send(phase_server, account, entra_peer.mint()) == (401, FAILED)
    assert "Unable to find a signing key" in _reason(phase_server)


def test_a_token_for_another_resource_is_401(
    phase_server: PhaseServer, entra_peer: EntraPeer
) -> None:
    account, _ = _account(phase_server, entra_peer)
    assert _send(phase_server, account, entra_peer.mint(resource="https://vault.azure.net")) == (
        401,
        FAILED,
    )
    assert "InvalidAudienceError" in _reason(phase_server)


def test_a_v1_token_with_the_v2_issuer_is_401(
    phase_server: PhaseServer, entra_peer: EntraPeer
) -> None:
    account, _ = _account(phase_server, entra_peer)
    entra_peer.config.issuer = f"https://login.microsoftonline.com/{entra_peer.tenant_id}/v2.0"
    assert _send(phase_server, account, entra_peer.mint()) == (401, FAILED)
    assert "InvalidIssuerError" in _reason(phase_server)


@pytest.mark.parametrize("claim", ["exp", "iss", "aud", "oid", "tid"])
def test_a_token_missing_a_required_claim_is_401(
    phase_server: PhaseServer, entra_peer: EntraPeer, claim: str
) -> None:
    account, _ = _account(phase_server, entra_peer)
    entra_peer.config.omit_claims = frozenset({claim})
    assert _send(phase_server, account, entra_peer.mint()) == (401, FAILED)


def test_an_expired_token_is_401(phase_server: PhaseServer, entra_peer: EntraPeer) -> None:
    account, _ = _account(phase_server, entra_peer)
    entra_peer.config.expired = True
    assert _send(phase_server, account, entra_peer.mint()) == (401, FAILED)
    assert "ExpiredSignatureError" in _reason(phase_server)


def test_a_server_clock_past_the_tokens_expiry_rejects_it(
    phase_server: PhaseServer, entra_peer: EntraPeer
) -> None:
    account, _ = _account(phase_server, entra_peer)
    phase_server.config.clock_offset = 7200
    assert _send(phase_server, account, entra_peer.mint()) == (401, FAILED)


def test_a_token_from_another_tenant_is_401_for_a_single_identity(
    phase_server: PhaseServer, entra_peer: EntraPeer
) -> None:
    account, _ = _account(phase_server, entra_peer)
    other = entra_peer.add_tenant()
    assert _send(phase_server, account, entra_peer.mint(tenant_id=other)) == (401, FAILED)


def test_an_oid_outside_the_allowed_list_is_403(
    phase_server: PhaseServer, entra_peer: EntraPeer
) -> None:
    account, _ = _account(phase_server, entra_peer, allowed_service_principals=[str(uuid.uuid4())])
    status, body = _send(phase_server, account, entra_peer.mint())
    assert (status, body) == (403, {"error": "Untrusted service principal"})


def test_a_bare_star_in_allowed_principals_is_rejected(
    phase_server: PhaseServer, entra_peer: EntraPeer
) -> None:
    account, _ = _account(phase_server, entra_peer, allowed_service_principals=["*"])
    status, body = _send(phase_server, account, entra_peer.mint())
    assert (status, body) == (
        400,
        {"error": "Invalid trusted principal pattern '*' is not allowed"},
    )


def test_a_ttl_above_the_maximum_is_400(phase_server: PhaseServer, entra_peer: EntraPeer) -> None:
    account, _ = _account(phase_server, entra_peer, max_ttl=3600)
    status, body = _send(phase_server, account, entra_peer.mint(), ttl=3601)
    assert (status, body) == (
        400,
        {"error": "Requested TTL (3601s) exceeds maximum allowed TTL (3600s)"},
    )


def test_the_jwt_field_carries_base64_of_the_token_string(entra_peer: EntraPeer) -> None:
    token = entra_peer.mint()
    payload = azure_entra_payload(token, account_id="a")
    assert base64.b64decode(payload["azureEntra"]["jwt"]).decode() == token


def test_azure_checks_run_in_protocol_order(
    phase_server: PhaseServer, entra_peer: EntraPeer
) -> None:
    """Each request breaks two rules; the earlier rule is the one reported."""
    account, _ = _account(phase_server, entra_peer, allowed_service_principals=["someone-else"])
    entra_peer.config.signing = "forged"
    forged_and_untrusted = entra_peer.mint()
    entra_peer.config.signing = "trusted"
    unknown_account = azure_entra_payload(forged_and_untrusted, account_id="unknown")
    requests: list[Any] = [
        {"account": {"type": "user"}},  # bad account and no jwt
        {"account": {"type": "service", "id": "unknown"}},  # no jwt and unknown account
        unknown_account,  # unknown account and forged token
        azure_entra_payload(forged_and_untrusted, account_id=account.id),  # forged and untrusted
        azure_entra_payload(entra_peer.mint(), account_id=account.id, ttl=10**9),  # untrusted, TTL
    ]
    statuses = [post(phase_server, "azure", r).status_code for r in requests]
    assert statuses == [400, 400, 404, 401, 403]
    assert [r.error for r in phase_server.records.requests] == [
        "Only service account authentication supported",
        "Missing azureEntra.jwt",
        "Service account not found",
        "Azure JWT validation failed",
        "Untrusted service principal",
    ]
