"""``credentials.source: ServiceAccount``: every binding proves its own ServiceAccount's identity.

For a binding in namespace N naming ServiceAccount S, the proof comes from S alone — its
annotations pick the IAM role or Entra app, its TokenRequest token proves it — and never from
the operator's own credentials. One cloud provider per (ServiceAccount, annotations, identity
settings) holds the cached Kubernetes token and cloud credentials, so any number of bindings
sharing S cost one TokenRequest and one STS/Entra sign-in per credential lifetime. Providers
are bounded in number, dropped when idle, when S's annotations change, when S is gone, and
when :meth:`ServiceAccountCredentials.forget` hears that S was deleted.
"""

from __future__ import annotations

import asyncio
import functools
import threading
import time
from collections.abc import Callable, Mapping

import botocore.session
from kubernetes.client import CoreV1Api

from external_identity.api.specs import BindingSpec, IdentitySpec
from external_identity.errors import ConfigurationError
from external_identity.exchange.proofs import AWS_IAM, AZURE, Proof, ProofProvider, ProviderName
from external_identity.exchange.providers.settings import ProviderSettings, settings_for
from external_identity.exchange.providers.sts_endpoints import resolve_sts_target
from external_identity.exchange.workloads.accounts import (
    ServiceAccount,
    audience_for,
    azure_app,
    role_arn,
    role_session_name,
)
from external_identity.exchange.workloads.aws import WebIdentityAwsProvider
from external_identity.exchange.workloads.expiring import ExpiringCache
from external_identity.exchange.workloads.kube import (
    ReusedToken,
    ServiceAccountMissing,
    ServiceAccounts,
    TokenRequester,
)

__all__ = ["ServiceAccountCredentials", "ServiceAccountProof"]

#: (ServiceAccount with its uid and annotations, the identity's provider settings, audience)
_Key = tuple[ServiceAccount, ProviderSettings, str]
#: A provider unused this long is dropped (bindings refresh far more often than this).
IDLE_SECONDS = 6 * 3600.0
MAX_PROVIDERS = 4096


class ServiceAccountCredentials:
    """The ``ServiceAccount`` credential source (see the module docstring)."""

    def __init__(
        self,
        core: CoreV1Api,
        *,
        max_providers: int = MAX_PROVIDERS,
        idle_seconds: float = IDLE_SECONDS,
        token_seconds: int = 3600,
        monotonic: Callable[[], float] = time.monotonic,
        refreshed: Callable[[str], None] = lambda kind: None,
    ) -> None:
        """``refreshed`` is told each credential fetched: ``kubernetes-token-request`` or
        ``aws-assume-role-with-web-identity``."""
        self._accounts = ServiceAccounts(core, monotonic=monotonic)
        self._refreshed = refreshed
        self._requester = TokenRequester(
            core, expiration_seconds=token_seconds,
            issued=lambda: refreshed("kubernetes-token-request"),
        )
        self._monotonic = monotonic
        self._providers: ExpiringCache[_Key, ProofProvider] = ExpiringCache(
            max_entries=max_providers, idle_seconds=idle_seconds, monotonic=monotonic
        )
        self._session: botocore.session.Session | None = None
        self._session_lock = threading.Lock()
        self._closing: set[asyncio.Task[None]] = set()

    def provider_for(self, identity: IdentitySpec, binding: BindingSpec) -> ProofProvider:
        name = binding.service_account_name
        if not name or not binding.namespace:
            raise ConfigurationError(
                "spec.serviceAccountName is required: the ExternalIdentity takes credentials "
                "from the binding's own ServiceAccount (credentials.source ServiceAccount)"
            )
        return _BindingProof(self, identity, binding.namespace, name)

    async def provider(self, identity: IdentitySpec, namespace: str, name: str) -> ProofProvider:
        """The cached provider for ``namespace/name`` under ``identity``, made if needed."""
        return await self.provider_of(
            settings_for(identity), audience=identity.credentials.audience,
            namespace=namespace, name=name,
        )

    async def provider_of(
        self, settings: ProviderSettings, *, audience: str | None, namespace: str, name: str
    ) -> ProofProvider:
        """The cached provider for ``namespace/name`` with these settings, made if needed."""
        try:
            account = await self._accounts.get(namespace, name)
        except ServiceAccountMissing:
            self.forget(namespace, name)
            raise
        audience = audience_for(settings.provider, audience)
        key: _Key = (account, settings, audience)
        provider = self._providers.get(key)
        if provider is None:
            provider = self._build(account, settings, audience)
            replaced = self._providers.pop_where(
                lambda other: _same_account(other[0], account) and other != key
            )
            self._close_later([*replaced, *self._providers.put(key, provider)])
        return provider

    def forget(self, namespace: str, name: str) -> None:
        """``namespace/name`` was deleted or changed: drop what is cached for it.

        The hook for a ServiceAccount watch (DELETED, or annotations changed); without one,
        a lookup that finds it gone and idle expiry do the same, later.
        """
        self._accounts.forget(namespace, name)
        self._close_later(self._providers.pop_where(
            lambda key: (key[0].namespace, key[0].name) == (namespace, name)
        ))

    def observed(
        self, namespace: str, name: str, *, uid: str, annotations: Mapping[str, str] | None
    ) -> None:
        """A ServiceAccount watch saw ``namespace/name`` as it is now: drop what was cached for
        another version of it (re-created, re-annotated); keep what still matches."""
        current = ServiceAccount.of(namespace, name, uid, annotations)
        stale = self._providers.pop_where(
            lambda key: _same_account(key[0], current) and key[0] != current
        )
        if stale:
            self._accounts.forget(namespace, name)
            self._close_later(stale)

    def _build(
        self, account: ServiceAccount, settings: ProviderSettings, audience: str
    ) -> ProofProvider:
        token = ReusedToken(
            functools.partial(self._requester.request, account, audience=audience),
            monotonic=self._monotonic,
        )
        if settings.provider == AWS_IAM:
            session = self._botocore()
            target = resolve_sts_target(
                region=settings.aws_region, sts_endpoint=settings.aws_sts_endpoint,
                session_region=session.get_config_variable("region"),
            )
            return WebIdentityAwsProvider(
                account=account, role_arn=role_arn(account),
                session_name=role_session_name(account), audience=audience, target=target,
                token=token.get, session=session, session_lock=self._session_lock,
                fetched=lambda: self._refreshed("aws-assume-role-with-web-identity"),
            )
        from external_identity.exchange.workloads.azure import (
            ClientAssertionAzureProvider,  # azure-identity only when used
        )

        return ClientAssertionAzureProvider(
            account=account, app=azure_app(account, default_tenant=settings.azure_tenant_id),
            resource=settings.azure_resource, authority=settings.azure_authority_host,
            audience=audience, token=token,
        )

    def _botocore(self) -> botocore.session.Session:
        if self._session is None:
            self._session = botocore.session.get_session()
        return self._session

    def _close_later(self, providers: list[ProofProvider]) -> None:
        for provider in providers:
            task = asyncio.get_running_loop().create_task(provider.close())
            self._closing.add(task)
            task.add_done_callback(self._closing.discard)

    async def close(self) -> None:
        providers = self._providers.clear()
        await asyncio.gather(*self._closing, *(p.close() for p in providers))


def _same_account(one: ServiceAccount, other: ServiceAccount) -> bool:
    return (one.namespace, one.name) == (other.namespace, other.name)


class _BindingProof:
    """What the exchange holds for one binding: it resolves the ServiceAccount's provider
    (reading the ServiceAccount, briefly cached) each time it is asked for a proof."""

    def __init__(
        self, source: ServiceAccountCredentials, identity: IdentitySpec, namespace: str, name: str
    ) -> None:
        self.provider: ProviderName = identity.provider
        self._source = source
        self._identity = identity
        self._namespace = namespace
        self._name = name

    async def proof(self) -> Proof:
        provider = await self._source.provider(self._identity, self._namespace, self._name)
        return await provider.proof()

    async def close(self) -> None:
        return None  # the source owns the cached providers


class ServiceAccountProof:
    """Proofs of one ServiceAccount's identity, for a one-shot exchange (``external-identity
    exchange --service-account``): it owns its credential source and closes it."""

    def __init__(
        self, core: CoreV1Api, settings: ProviderSettings, *, namespace: str, name: str,
        audience: str | None = None,
    ) -> None:
        if settings.provider not in (AWS_IAM, AZURE):
            raise ConfigurationError(f"unknown provider {settings.provider!r}")
        self.provider: ProviderName = AWS_IAM if settings.provider == AWS_IAM else AZURE
        self._source = ServiceAccountCredentials(core)
        self._settings = settings
        self._audience = audience
        self._namespace = namespace
        self._name = name

    async def proof(self) -> Proof:
        provider = await self._source.provider_of(
            self._settings, audience=self._audience, namespace=self._namespace, name=self._name
        )
        return await provider.proof()

    async def close(self) -> None:
        await self._source.close()
