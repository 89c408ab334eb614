"""ClientAssertionAzureProvider against the Entra peer: one ServiceAccount's token signs in as the
Entra app its annotations name; the app's object ID is the principal; proofs for one account go
one at a time; refusals name the account, the app and the federated credential to add.

The ServiceAccount tokens are the Entra peer's own cluster assertions, so no Kubernetes API is
needed; the TokenRequest side has its own tests (test_kube.py).
"""

from __future__ import annotations

import asyncio
import base64
from collections.abc import Callable

import jwt
import pytest
from support.peers.entra_model import FederatedCredential
from support.peers.entra_peer import CLUSTER_ISSUER, EntraClient, EntraPeer

from external_identity.errors import CredentialsUnavailable
from external_identity.exchange.workloads.accounts import AzureApp, ServiceAccount
from external_identity.exchange.workloads.azure import ClientAssertionAzureProvider
from external_identity.exchange.workloads.kube import IssuedKubeToken, ReusedToken

pytestmark = pytest.mark.usefixtures("loopback_only", "aiohttp_trusts_entra")

SUBJECT = "system:serviceaccount:payments:api"
ACCOUNT = ServiceAccount.of("payments", "api", "uid-1", None)
AUDIENCE = "api://AzureADTokenExchange"


class Assertions:
    """The TokenRequest stand-in: the peer's cluster token for the ServiceAccount, counted."""

    def __init__(self, entra: EntraPeer, subject: str = SUBJECT) -> None:
        self.entra = entra
        self.subject = subject
        self.issued: list[str] = []

    def __call__(self) -> IssuedKubeToken:
        self.issued.append(self.entra.federated_assertion(subject=self.subject))
        return IssuedKubeToken(self.issued[-1], lifetime=3600)


def app_trusting(entra: EntraPeer, subject: str = SUBJECT) -> EntraClient:
    return entra.add_client(federated=(FederatedCredential(issuer=CLUSTER_ISSUER,
                                                           subject=subject),))


def provider(
    entra: EntraPeer, app: EntraClient, request: Callable[[], IssuedKubeToken], *,
    resource: str = "https://management.azure.com/",
) -> ClientAssertionAzureProvider:
    return ClientAssertionAzureProvider(
        account=ACCOUNT, app=AzureApp(tenant_id=entra.tenant_id, client_id=app.client_id),
        resource=resource, authority=entra.authority_host, audience=AUDIENCE,
        token=ReusedToken(request),
    )


async def test_the_proof_carries_the_apps_entra_token_and_names_its_object_id(
    entra_peer: EntraPeer,
) -> None:
    app = app_trusting(entra_peer)
    azure = provider(entra_peer, app, Assertions(entra_peer), resource="api://phase-console")
    try:
        proof = await azure.proof()
    finally:
        await azure.close()
    assert (proof.provider, proof.path, proof.principal) == ("azure", "azure/entra/auth/",
                                                             app.oid)
    claims = jwt.decode(base64.b64decode(proof.payload["azureEntra"]["jwt"]),
                        options={"verify_signature": False})
    assert (claims["oid"], claims["tid"]) == (app.oid, entra_peer.tenant_id)
    [request] = entra_peer.token_requests()
    assert request.scope == "api://phase-console/.default"


async def test_concurrent_proofs_share_one_sign_in_and_one_kubernetes_token(
    entra_peer: EntraPeer,
) -> None:
    assertions = Assertions(entra_peer)
    azure = provider(entra_peer, app_trusting(entra_peer), assertions)
    try:
        proofs = await asyncio.gather(*(azure.proof() for _ in range(10)))
    finally:
        await azure.close()
    assert len({proof.principal for proof in proofs}) == 1
    assert len(entra_peer.token_requests()) == 1
    assert len(assertions.issued) == 1


async def test_an_app_without_a_federated_credential_for_the_account_is_refused_with_the_fix(
    entra_peer: EntraPeer,
) -> None:
    app = app_trusting(entra_peer, subject="system:serviceaccount:payments:someone-else")
    assertions = Assertions(entra_peer)
    azure = provider(entra_peer, app, assertions)
    try:
        with pytest.raises(CredentialsUnavailable) as refused:
            await azure.proof()
    finally:
        await azure.close()
    message = str(refused.value)
    assert message.startswith(
        f"ServiceAccount payments/api signing in to Entra as client {app.client_id} (annotation "
        f"azure.workload.identity/client-id) of tenant {entra_peer.tenant_id}: ")
    assert "AADSTS70021" in message
    assert message.endswith(
        f"the app needs a federated credential with the cluster's OIDC issuer, subject "
        f"{SUBJECT} and audience {AUDIENCE}")
    assert all(token not in message for token in assertions.issued) and "eyJ" not in message
    assert refused.value.__cause__ is None and refused.value.__suppress_context__


async def test_a_failed_token_request_stops_the_proof_before_entra_is_asked(
    entra_peer: EntraPeer,
) -> None:
    def missing() -> IssuedKubeToken:
        raise CredentialsUnavailable("ServiceAccount payments/api does not exist")

    azure = provider(entra_peer, app_trusting(entra_peer), missing)
    try:
        with pytest.raises(CredentialsUnavailable) as refused:
            await azure.proof()
    finally:
        await azure.close()
    assert str(refused.value) == "ServiceAccount payments/api does not exist"
    assert entra_peer.token_requests() == []


async def test_a_new_kubernetes_token_is_asked_for_once_the_old_one_is_mostly_used(
    entra_peer: EntraPeer,
) -> None:
    assertions = Assertions(entra_peer)
    now = [0.0]
    azure = ClientAssertionAzureProvider(
        account=ACCOUNT,
        app=AzureApp(tenant_id=entra_peer.tenant_id,
                     client_id=app_trusting(entra_peer).client_id),
        resource="https://management.azure.com/", authority=entra_peer.authority_host,
        audience=AUDIENCE, token=ReusedToken(assertions, monotonic=lambda: now[0]),
    )
    try:
        await azure.proof()
        now[0] = 3600 * 0.8
        await azure.proof()
    finally:
        await azure.close()
    assert len(assertions.issued) == 2
    assert len(entra_peer.token_requests()) == 1  # Entra's own token is still cached
