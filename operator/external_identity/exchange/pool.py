"""Shared, cached exchange machinery: providers, HTTP clients, a concurrency bound.

Seams: a :class:`CredentialSource` decides whose cloud identity a binding proves
(``Operator``: the operator pod's own; ``ServiceAccount``: the binding's own Kubernetes
ServiceAccount, through a TokenRequest — :mod:`external_identity.exchange.workloads`) and a
:class:`TokenService` decides where the proof goes (Phase's external-identity API today).
Adding either touches only this module's registries, never the controller.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable, Mapping
from typing import Protocol

import httpx
from kubernetes.client import ApiClient, CoreV1Api

from external_identity.api import conditions
from external_identity.api.problems import problem_for
from external_identity.api.specs import BindingSpec, IdentitySpec
from external_identity.controller.metrics import Metrics
from external_identity.errors import ConfigurationError, ExternalIdentityError
from external_identity.exchange.client import TokenServiceClient, build_http_client
from external_identity.exchange.proofs import Proof, ProofProvider
from external_identity.exchange.providers.factory import build_provider
from external_identity.exchange.providers.settings import ProviderSettings, settings_for
from external_identity.exchange.tokens import IssuedToken
from external_identity.exchange.workloads import ServiceAccountCredentials

__all__ = [
    "CredentialSource",
    "ExchangePool",
    "OperatorCredentials",
    "TokenService",
    "credential_sources",
]


class TokenService(Protocol):
    async def exchange(
        self, provider: ProofProvider, *, service_account_id: str, ttl: int | None = None
    ) -> IssuedToken: ...


class CredentialSource(Protocol):
    """Whose cloud identity a binding proves."""

    def provider_for(self, identity: IdentitySpec, binding: BindingSpec) -> ProofProvider: ...

    def forget(self, namespace: str, name: str) -> None:
        """The Kubernetes ServiceAccount ``namespace/name`` was deleted."""

    def observed(
        self, namespace: str, name: str, *, uid: str, annotations: Mapping[str, str] | None
    ) -> None:
        """The Kubernetes ServiceAccount ``namespace/name`` is now as given."""

    async def close(self) -> None: ...


class OperatorCredentials:
    """The operator pod's own projected credentials, one provider per distinct setting.

    Providers hold botocore sessions / azure-identity credentials that cache and
    refresh cloud credentials, so every binding on the same identity shares them.
    """

    def __init__(self, build: Callable[[ProviderSettings], ProofProvider] = build_provider) -> None:
        self._build = build
        self._providers: dict[ProviderSettings, ProofProvider] = {}

    def provider_for(self, identity: IdentitySpec, binding: BindingSpec) -> ProofProvider:
        return self.provider_of(identity)

    def provider_of(self, identity: IdentitySpec) -> ProofProvider:
        settings = settings_for(identity)
        provider = self._providers.get(settings)
        if provider is None:
            provider = self._providers[settings] = self._build(settings)
        return provider

    def forget(self, namespace: str, name: str) -> None:
        return None  # the operator's credentials belong to no workload ServiceAccount

    def observed(
        self, namespace: str, name: str, *, uid: str, annotations: Mapping[str, str] | None
    ) -> None:
        return None

    async def close(self) -> None:
        providers, self._providers = list(self._providers.values()), {}
        for provider in providers:
            await provider.close()


def credential_sources(
    api: ApiClient, *, refreshed: Callable[[str], None] = lambda kind: None
) -> dict[str, CredentialSource]:
    """Every ``credentials.source`` this operator supports, keyed by its spec value.

    ``api`` is the operator's Kubernetes client, for sources that ask the API server for
    credentials of their own; ``refreshed`` is told each such credential fetched.
    """
    return {
        "Operator": OperatorCredentials(),
        "ServiceAccount": ServiceAccountCredentials(CoreV1Api(api), refreshed=refreshed),
    }


class ExchangePool:
    """Routes each exchange to the right credentials and token service, with a bound."""

    def __init__(
        self,
        *,
        max_concurrent: int,
        credential_sources: dict[str, CredentialSource],
        metrics: Metrics,
    ) -> None:
        self._limit = asyncio.Semaphore(max_concurrent)
        self._sources = credential_sources
        self._metrics = metrics
        self._http: dict[tuple[str | None, float], httpx.AsyncClient] = {}

    def _http_client(self, identity: IdentitySpec) -> httpx.AsyncClient:
        key = (identity.token_service.ca_bundle, identity.token_service.timeout_seconds)
        client = self._http.get(key)
        if client is None:
            client = self._http[key] = build_http_client(ca_bundle_pem=key[0], timeout=key[1])
        return client

    def service_account_event(
        self,
        namespace: str,
        name: str,
        *,
        deleted: bool,
        uid: str = "",
        annotations: Mapping[str, str] | None = None,
    ) -> None:
        """What a ServiceAccount watch saw: credentials cached for a deleted ServiceAccount, or
        for an older version of it (re-created, re-annotated), are dropped at once. Without a
        watch the cache notices within a minute (it re-reads ServiceAccounts that often)."""
        for source in self._sources.values():
            if deleted:
                source.forget(namespace, name)
            else:
                source.observed(namespace, name, uid=uid, annotations=annotations)

    def token_service(self, identity: IdentitySpec) -> TokenService:
        return TokenServiceClient(
            identity.token_service.endpoint(), http=self._http_client(identity)
        )

    async def operator_proof(self, identity: IdentitySpec) -> Proof:
        """A proof from the operator's own credentials, as an exchange would send; no exchange."""
        source = self._sources.get("Operator")
        if not isinstance(source, OperatorCredentials):
            raise ConfigurationError("this operator has no credentials of its own")
        return await source.provider_of(identity).proof()

    async def exchange(self, identity: IdentitySpec, binding: BindingSpec) -> IssuedToken:
        source = self._sources.get(identity.credentials.source)
        if source is None:
            raise ConfigurationError(
                f"credentials.source {identity.credentials.source} is not supported by this "
                f"operator version (supported: {', '.join(sorted(self._sources))})"
            )
        provider = source.provider_for(identity, binding)
        ttl = binding.ttl if binding.ttl is not None else identity.default_ttl
        async with self._limit:
            started = time.monotonic()
            try:
                token = await self.token_service(identity).exchange(
                    provider, service_account_id=binding.service_account_id, ttl=ttl
                )
            except ExternalIdentityError as error:
                self._metrics.exchanges.labels(identity.provider, problem_for(error).reason).inc()
                raise
            finally:
                elapsed = time.monotonic() - started
                self._metrics.exchange_seconds.labels(identity.provider).observe(elapsed)
        self._metrics.exchanges.labels(identity.provider, conditions.TOKEN_ISSUED).inc()
        return token

    async def close(self) -> None:
        for source in self._sources.values():
            await source.close()
        clients, self._http = list(self._http.values()), {}
        for client in clients:
            await client.aclose()
