"""One exchange, end to end, for the ``external-identity exchange`` command."""

from __future__ import annotations

import asyncio
import json
from dataclasses import dataclass
from typing import TextIO

from external_identity.exchange.client import (
    IssuedToken,
    TokenServiceClient,
    TokenServiceEndpoint,
    build_http_client,
)
from external_identity.exchange.proofs import ProofProvider
from external_identity.exchange.providers.factory import build_provider
from external_identity.exchange.providers.settings import ProviderSettings
from external_identity.exchange.workloads import ServiceAccountProof
from external_identity.kube.client import load_core_api
from external_identity.secrets.data import SecretKeys, SecretTarget
from external_identity.secrets.writer import SecretWriter

__all__ = [
    "CLI_OWNER_KEY", "ExchangeRequest", "exchange_once", "no_store_document", "run_exchange",
]

CLI_OWNER_KEY = "external-identity-cli"


@dataclass(frozen=True)
class ExchangeRequest:
    provider: ProviderSettings
    endpoint: TokenServiceEndpoint
    service_account_id: str
    ttl: int | None
    ca_bundle: str | None
    timeout: float
    #: ``(namespace, name)`` of the Secret to write, or None to print instead.
    secret: tuple[str, str] | None
    secret_keys: SecretKeys
    kubeconfig: str | None = None
    context: str | None = None
    #: PEM text of extra CAs (an identity's spec.tokenService.caBundle), beside ``ca_bundle``.
    ca_bundle_pem: str | None = None
    #: ``(namespace, name)`` of a Kubernetes ServiceAccount whose identity to prove (its
    #: TokenRequest exchanged at STS or Entra), instead of this machine's own credentials.
    service_account: tuple[str, str] | None = None
    #: The audience of that ServiceAccount's token (default: the cloud's federation default).
    audience: str | None = None


def _provider(request: ExchangeRequest) -> ProofProvider:
    """This machine's credentials, or the ServiceAccount's (blocking: loads the kubeconfig)."""
    if request.service_account is None:
        return build_provider(request.provider)
    namespace, name = request.service_account
    core = load_core_api(request.kubeconfig, request.context)
    return ServiceAccountProof(
        core, request.provider, namespace=namespace, name=name, audience=request.audience
    )


async def exchange_once(request: ExchangeRequest) -> IssuedToken:
    provider = await asyncio.to_thread(_provider, request)
    try:
        async with build_http_client(
            ca_bundle=request.ca_bundle,
            ca_bundle_pem=request.ca_bundle_pem,
            timeout=request.timeout,
        ) as http:
            client = TokenServiceClient(request.endpoint, http=http)
            return await client.exchange(
                provider, service_account_id=request.service_account_id, ttl=request.ttl
            )
    finally:
        await provider.close()


def no_store_document(token: IssuedToken) -> str:
    """What ``--no-store`` prints: the token, its bearer form and metadata, as JSON."""
    document = {"token": token.token, "bearerToken": token.bearer_token, **token.metadata()}
    return json.dumps(document, indent=2) + "\n"


async def run_exchange(request: ExchangeRequest, *, out: TextIO) -> None:
    if request.secret is None:
        out.write(no_store_document(await exchange_once(request)))
        return
    namespace, name = request.secret
    # Load the Kubernetes configuration first: never mint a token we cannot store.
    api = await asyncio.to_thread(load_core_api, request.kubeconfig, request.context)
    token = await exchange_once(request)
    target = SecretTarget(
        namespace=namespace,
        name=name,
        owner_key=CLI_OWNER_KEY,
        identity=f"cli/{request.provider.provider}",
        keys=request.secret_keys,
    )
    await SecretWriter(api).write(target, token)
    out.write(json.dumps({"secret": target.ref, **token.metadata()}, indent=2) + "\n")
