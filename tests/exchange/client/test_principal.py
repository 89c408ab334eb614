"""Every failed exchange says which cloud principal was refused — and nothing secret."""

from __future__ import annotations

import base64
import json
import os
import socket
from collections.abc import Callable

import pytest
from support.peers.entra_peer import EntraPeer
from support.peers.helpers import aws_account
from support.peers.phase_server import PhaseServer
from support.peers.sts_peer import StsPeer

from external_identity.errors import (
    MalformedResponse,
    RateLimited,
    TokenServiceError,
    Unavailable,
    UntrustedPrincipal,
)
from external_identity.exchange.client import TokenServiceClient
from external_identity.exchange.providers.aws import AwsIamProvider
from external_identity.exchange.providers.azure import AzureProvider, build_azure_credential
from tests.exchange.client.conftest import ACCOUNT_ID, PRINCIPAL, ClientFactory, FixedProof

pytestmark = pytest.mark.usefixtures("loopback_only")

Fault = Callable[[PhaseServer], None]

FAULTS: dict[str, tuple[Fault, type[TokenServiceError]]] = {
    "refused": (lambda s: s.fail(status=403, body={"error": "Untrusted principal"}),
                UntrustedPrincipal),
    "throttled": (lambda s: s.rate_limit(), RateLimited),
    "unavailable": (lambda s: s.fail(status=503), Unavailable),
    "malformed": (lambda s: s.respond_raw(body=b"{}"), MalformedResponse),
    "dropped": (lambda s: s.disconnect(), Unavailable),
}


@pytest.mark.parametrize("fault", list(FAULTS))
async def test_every_failure_carries_the_proofs_principal(
    phase_server: PhaseServer, client: TokenServiceClient, fault: str
) -> None:
    inject, kind = FAULTS[fault]
    inject(phase_server)
    with pytest.raises(kind) as raised:
        await client.exchange(FixedProof(), service_account_id=ACCOUNT_ID)
    assert raised.value.principal == PRINCIPAL


async def test_a_proof_without_a_principal_leaves_it_unknown(
    phase_server: PhaseServer, client: TokenServiceClient
) -> None:
    phase_server.fail(status=403, body={"error": "Untrusted principal"})
    with pytest.raises(UntrustedPrincipal) as raised:
        await client.exchange(FixedProof(principal=None), service_account_id=ACCOUNT_ID)
    assert raised.value.principal is None


async def test_nothing_listening_still_names_the_principal(make_client: ClientFactory) -> None:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    with pytest.raises(Unavailable) as raised:
        await make_client(host=f"http://127.0.0.1:{port}").exchange(
            FixedProof(), service_account_id=ACCOUNT_ID
        )
    assert raised.value.principal == PRINCIPAL


async def test_an_untrusted_aws_role_is_named_by_its_arn_without_its_keys(
    phase_server: PhaseServer,
    sts_peer: StsPeer,
    aws_env: dict[str, str],
    client: TokenServiceClient,
) -> None:
    account, _ = aws_account(
        phase_server, sts_peer, trusted_principals=[sts_peer.trust_pattern("unrelated-workload")]
    )
    provider = AwsIamProvider(sts_endpoint=sts_peer.endpoint)
    with pytest.raises(UntrustedPrincipal) as raised:
        await client.exchange(provider, service_account_id=account.id)
    error = raised.value
    assert error.principal == sts_peer.assumed_role_arn
    shown = f"{error} {error.principal}"
    for secret in (sts_peer.secret_access_key, sts_peer.session_token, sts_peer.access_key_id):
        assert secret and secret not in shown


async def test_an_untrusted_azure_service_principal_is_named_by_its_object_id(
    phase_server: PhaseServer,
    entra_peer: EntraPeer,
    entra_env: dict[str, str],
    client: TokenServiceClient,
) -> None:
    account = phase_server.add_service_account()
    phase_server.add_azure_identity(
        account,
        tenant_id=entra_peer.tenant_id,
        allowed_service_principals=["00000000-0000-0000-0000-000000000001"],
    )
    provider = AzureProvider(credential=build_azure_credential(environ=os.environ))
    try:
        with pytest.raises(UntrustedPrincipal) as raised:
            await client.exchange(provider, service_account_id=account.id)
    finally:
        await provider.close()
    error = raised.value
    assert error.principal == entra_peer.oid
    [request] = [r for r in phase_server.records.requests if r.provider == "azure"]
    jwt = base64.b64decode(request.payload["azureEntra"]["jwt"]).decode()
    assert jwt not in f"{error} {error.principal}"
    assert json.dumps(error.principal) == f'"{entra_peer.oid}"'
