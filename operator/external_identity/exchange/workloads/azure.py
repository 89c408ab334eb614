"""Azure proof for one ServiceAccount: its token as the client assertion of an Entra app.

azure-identity's ``ClientAssertionCredential`` signs in as the app in the ServiceAccount's
``azure.workload.identity/client-id`` annotation with the ServiceAccount's token (audience
``api://AzureADTokenExchange``) and caches the Entra access token; :class:`AzureProvider` turns
that into the proof, with the token's ``oid`` as the principal. Proofs for one ServiceAccount
go one at a time, so concurrent bindings share one sign-in instead of racing to make many.
"""

from __future__ import annotations

import asyncio

from external_identity.errors import CredentialsUnavailable
from external_identity.exchange.proofs import AZURE, Proof, ProviderName
from external_identity.exchange.providers.azure import (
    AzureProvider,
    build_client_assertion_credential,
)
from external_identity.exchange.workloads.accounts import (
    CLIENT_ID_ANNOTATION,
    AzureApp,
    ServiceAccount,
)
from external_identity.exchange.workloads.kube import ReusedToken

__all__ = ["ClientAssertionAzureProvider"]


class ClientAssertionAzureProvider:
    provider: ProviderName = AZURE

    def __init__(
        self,
        *,
        account: ServiceAccount,
        app: AzureApp,
        resource: str,
        authority: str | None,
        audience: str,
        token: ReusedToken,
    ) -> None:
        self.account = account
        self.app = app
        self._audience = audience
        self._token = token
        self._lock = asyncio.Lock()
        credential = build_client_assertion_credential(
            tenant_id=app.tenant_id, client_id=app.client_id, assertion=self._assertion,
            authority=authority,
        )
        self._inner = AzureProvider(credential=credential, resource=resource)

    def _assertion(self) -> str:
        """azure-identity's synchronous callback: the token :meth:`proof` made sure of."""
        token = self._token.peek()
        if token is None:
            raise CredentialsUnavailable(
                f"no Kubernetes token held for ServiceAccount {self.account.ref}"
            )
        return token

    async def proof(self) -> Proof:
        async with self._lock:
            await asyncio.to_thread(self._token.get)  # the held token, or a new TokenRequest
            try:
                return await self._inner.proof()
            except CredentialsUnavailable as error:
                raise CredentialsUnavailable(
                    f"ServiceAccount {self.account.ref} signing in to Entra as client "
                    f"{self.app.client_id} (annotation {CLIENT_ID_ANNOTATION}) of tenant "
                    f"{self.app.tenant_id}: {error}; the app needs a federated credential with "
                    f"the cluster's OIDC issuer, subject {self.account.subject} and audience "
                    f"{self._audience}"
                ) from None

    async def close(self) -> None:
        await self._inner.close()
