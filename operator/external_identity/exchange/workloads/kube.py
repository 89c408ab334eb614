"""The Kubernetes side of per-workload identity: reading ServiceAccounts, TokenRequests.

:class:`ServiceAccounts` reads a ServiceAccount (its uid and annotations) at most once per
``cache_seconds`` per name, however many bindings ask at once, and forgets it when told it was
deleted. :class:`TokenRequester` asks ``POST …/serviceaccounts/NAME/token`` for a token with one
audience; :class:`ReusedToken` keeps one such token until most of its lifetime has passed.
Refusals become :class:`~external_identity.errors.CredentialsUnavailable` naming the
ServiceAccount and the fix; a token never appears in a message.
"""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass

import urllib3.exceptions
from kubernetes.client import (
    AuthenticationV1TokenRequest,
    CoreV1Api,
    V1ObjectMeta,
    V1TokenRequestSpec,
)
from kubernetes.client.exceptions import ApiException

from external_identity.errors import CredentialsUnavailable
from external_identity.exchange.workloads.accounts import ServiceAccount
from external_identity.exchange.workloads.expiring import ExpiringCache
from external_identity.kube.calls import api_failure, call_api

__all__ = [
    "IssuedKubeToken", "ReusedToken", "ServiceAccountMissing", "ServiceAccounts", "TokenRequester",
]

#: Per-workload identity needs these permissions (chart value perWorkloadIdentity.enabled).
_RBAC_FIX = (
    "the operator needs get on serviceaccounts and create on serviceaccounts/token in this "
    "namespace: install the chart with perWorkloadIdentity.enabled=true"
)


class ServiceAccountMissing(CredentialsUnavailable):
    """The ServiceAccount does not exist (any more)."""


def _refusal(account: str, doing: str, error: ApiException) -> CredentialsUnavailable:
    reason, message = api_failure(error)
    if error.status == 404:
        namespace = account.split("/", 1)[0]
        return ServiceAccountMissing(
            f"ServiceAccount {account} does not exist; create it, or set spec.serviceAccountName "
            f"to a ServiceAccount in namespace {namespace}"
        )
    if error.status in (401, 403):
        return CredentialsUnavailable(
            f"the Kubernetes API refused to {doing} ServiceAccount {account} ({reason}); "
            f"{_RBAC_FIX}"
        )
    detail = f": {message}" if message else ""
    return CredentialsUnavailable(
        f"the Kubernetes API refused to {doing} ServiceAccount {account} "
        f"(HTTP {error.status} {reason}{detail}); retrying"
    )


class ServiceAccounts:
    """ServiceAccount lookups, cached briefly and shared by concurrent callers."""

    def __init__(
        self,
        core: CoreV1Api,
        *,
        cache_seconds: float = 60.0,
        max_entries: int = 4096,
        monotonic: Callable[[], float] = time.monotonic,
    ) -> None:
        self._core = core
        self._fresh_for = cache_seconds
        self._monotonic = monotonic
        self._read: ExpiringCache[tuple[str, str], tuple[ServiceAccount, float]] = ExpiringCache(
            max_entries=max_entries, idle_seconds=cache_seconds, monotonic=monotonic
        )
        self._pending: dict[tuple[str, str], asyncio.Future[ServiceAccount]] = {}

    async def get(self, namespace: str, name: str) -> ServiceAccount:
        key = (namespace, name)
        cached = self._read.get(key)
        if cached is not None and self._monotonic() - cached[1] <= self._fresh_for:
            return cached[0]
        pending = self._pending.get(key)
        if pending is not None:
            return await asyncio.shield(pending)
        future: asyncio.Future[ServiceAccount] = asyncio.get_running_loop().create_future()
        self._pending[key] = future
        try:
            account = await self._fetch(namespace, name)
            self._read.put(key, (account, self._monotonic()))
            future.set_result(account)
            return account
        except CredentialsUnavailable as error:
            future.set_exception(error)
            future.exception()  # retrieved: a lookup nobody else awaited is not an error
            raise
        finally:
            del self._pending[key]
            if not future.done():  # cancelled (shutdown): the waiters stop too
                future.cancel()

    def forget(self, namespace: str, name: str) -> None:
        """The ServiceAccount changed or is gone: the next lookup reads it again."""
        self._read.pop_where(lambda key: key == (namespace, name))

    async def _fetch(self, namespace: str, name: str) -> ServiceAccount:
        ref = f"{namespace}/{name}"
        try:
            found = await call_api(
                f"read ServiceAccount {ref}", CredentialsUnavailable,
                self._core.read_namespaced_service_account, name, namespace,
            )
        except ApiException as error:
            raise _refusal(ref, "read", error) from None
        metadata = found.metadata
        if metadata is None:
            return ServiceAccount.of(namespace, name, "", None)
        return ServiceAccount.of(namespace, name, str(metadata.uid or ""), metadata.annotations)


@dataclass(frozen=True)
class IssuedKubeToken:
    token: str
    #: Seconds the API server granted (it may shorten what was asked).
    lifetime: float


class TokenRequester:
    """``create serviceaccounts/token``, blocking: call it from a worker thread."""

    def __init__(
        self,
        core: CoreV1Api,
        *,
        expiration_seconds: int = 3600,
        issued: Callable[[], None] = lambda: None,
    ) -> None:
        self._core = core
        self._seconds = expiration_seconds
        self._issued = issued

    def request(self, account: ServiceAccount, *, audience: str) -> IssuedKubeToken:
        body = AuthenticationV1TokenRequest(
            metadata=V1ObjectMeta(name=account.name, namespace=account.namespace),
            spec=V1TokenRequestSpec(audiences=[audience], expiration_seconds=self._seconds),
        )
        asked = time.time()
        try:
            issued = self._core.create_namespaced_service_account_token(
                account.name, account.namespace, body
            )
        except ApiException as error:
            raise _refusal(account.ref, "issue a token (TokenRequest) for", error) from None
        except (urllib3.exceptions.HTTPError, OSError) as error:
            raise CredentialsUnavailable(
                f"cannot request a token for ServiceAccount {account.ref}: Kubernetes API "
                f"unreachable ({type(error).__name__})"
            ) from None
        status = issued.status
        if status is None or not status.token:
            raise CredentialsUnavailable(
                f"the TokenRequest for ServiceAccount {account.ref} returned no token"
            )
        self._issued()
        expires = status.expiration_timestamp
        lifetime = expires.timestamp() - asked if expires is not None else float(self._seconds)
        return IssuedKubeToken(token=status.token, lifetime=max(lifetime, 0.0))


class ReusedToken:
    """One ServiceAccount's token for one audience, requested again once ``reuse_fraction``
    of its lifetime has passed. Thread-safe: botocore asks from its worker threads."""

    def __init__(
        self,
        request: Callable[[], IssuedKubeToken],
        *,
        reuse_fraction: float = 0.8,
        monotonic: Callable[[], float] = time.monotonic,
    ) -> None:
        self._request = request
        self._fraction = reuse_fraction
        self._monotonic = monotonic
        self._lock = threading.Lock()
        self._token: str | None = None
        self._renew_at = 0.0

    def get(self) -> str:
        with self._lock:
            if self._token is None or self._monotonic() >= self._renew_at:
                started = self._monotonic()
                issued = self._request()
                self._token = issued.token
                self._renew_at = started + issued.lifetime * self._fraction
            return self._token

    def peek(self) -> str | None:
        """The held token without requesting one (for azure-identity's synchronous callback)."""
        with self._lock:
            return self._token
