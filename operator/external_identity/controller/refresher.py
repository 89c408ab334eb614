"""Keeps one binding's Secret holding a valid token: one ``step`` per wake-up.

Each step checks the binding in order (spec, identity, namespace, TTL), then
either leaves a fresh token alone, repairs a drifted Secret, or exchanges for
a new token; it writes status and returns how long to sleep. Kubernetes and
the token service are reached only through the injected writers and pool.
"""

from __future__ import annotations

import contextlib
import json
import logging
import random
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any, NamedTuple, Protocol

from prometheus_client import Gauge

from ..errors import (
    ConfigurationError,
    CredentialsUnavailable,
    ExternalIdentityError,
    RateLimited,
    RequestRejected,
    SecretConflict,
)
from ..secretwriter import OwnerReference, SecretTarget, SecretWriter, StoredToken
from ..timefmt import parse_rfc3339, rfc3339
from ..tokenservice import IssuedToken
from . import conditions as reasons
from .conditions import set_condition
from .exchangers import ExchangePool
from .schedule import refresh_time, retry_delay
from .settings import OperatorSettings
from .specs import BindingSpec, IdentitySpec, parse_binding, parse_identity
from .statuses import GROUP, VERSION, StatusWriteError, StatusWriter

__all__ = ["BindingRefresher", "EventSink", "Problem"]

log = logging.getLogger(__name__)

Clock = Callable[[], datetime]
IdentityLookup = Callable[[str], Mapping[str, Any] | None]


class EventSink(Protocol):
    def __call__(self, *, warning: bool, reason: str, message: str) -> None: ...


@dataclass(frozen=True)
class Problem(Exception):
    """A check that failed: the condition reason, a message, and whether to retry soon."""

    reason: str
    message: str
    retry_soon: bool = False
    #: The token service's Retry-After, a floor for the next attempt.
    retry_after: float | None = None


class Inputs(NamedTuple):
    """What a token (or a failed attempt) was for: the binding's generation and its identity."""

    generation: int | None
    identity: str


@dataclass
class Held:
    """What this process last wrote (or found) for the binding."""

    target: SecretTarget
    #: The binding generation and identity spec the token was issued for.
    inputs: Inputs
    issued_at: datetime
    expires_at: datetime
    refresh_at: datetime
    #: The token itself, for rewriting a drifted Secret without a new exchange.
    #: None after a restart (we never read tokens back).
    token: IssuedToken | None = field(default=None, repr=False)


class BindingRefresher:
    def __init__(
        self,
        *,
        namespace: str,
        name: str,
        uid: str,
        identities: IdentityLookup,
        pool: ExchangePool,
        secrets: SecretWriter,
        statuses: StatusWriter,
        events: EventSink,
        settings: OperatorSettings,
        clock: Clock,
        rng: random.Random,
        ready_gauge: Gauge,
        failures: int = 0,
    ) -> None:
        self.namespace = namespace
        self.name = name
        self.uid = uid
        self._identities = identities
        self._pool = pool
        self._secrets = secrets
        self._statuses = statuses
        self._events = events
        self._settings = settings
        self._clock = clock
        self._rng = rng
        self.failures = failures
        self.held: Held | None = None
        self._ready: bool | None = None
        self._ready_gauge = ready_gauge
        #: After a failure: when to retry, and the inputs it failed with.
        self._retry_at: datetime | None = None
        self._failed_inputs: Inputs | None = None
        self._pending_status: dict[str, Any] | None = None

    # -- the step -------------------------------------------------------------------------

    async def step(self, body: Mapping[str, Any]) -> float:
        """Bring the binding up to date; return seconds until the next step is due."""
        delay = await self._step(body)
        if self._pending_status is not None:
            delay = min(delay, self._settings.backoff_base_seconds)
        return delay

    async def _step(self, body: Mapping[str, Any]) -> float:
        status: Mapping[str, Any] = body.get("status") or {}
        generation = (body.get("metadata") or {}).get("generation")
        inputs = self._inputs(body, generation)
        if self._pending_status is not None:
            await self._write_status(self._pending_status)
        retry_at = self._retry_at
        if retry_at is not None and self._clock() < retry_at and inputs == self._failed_inputs:
            return self._seconds_until(retry_at)  # woken, but nothing changed since it failed
        self._failed_inputs = inputs
        try:
            binding, identity, target = self._check(body)
            if self.held is not None and self.held.target.name != target.name:
                await self._retire(self.held.target)
            stored = await self._secrets.read(target)
            if self.held is None:
                self.held = self._resume(stored, target, inputs, status)
            if self._fresh(self.held, target, inputs):
                assert self.held is not None
                if stored is not None and stored.data_intact:
                    return self._seconds_until(self.held.refresh_at)
                if self.held.token is not None and self.held.expires_at > self._clock():
                    await self._secrets.write(target, self.held.token)
                    log.info("Rewrote drifted Secret %s/%s", target.namespace, target.name)
                    return self._seconds_until(self.held.refresh_at)
            token = await self._pool.exchange(identity, binding)
            await self._secrets.write(target, token)
        except Problem as problem:
            return await self._failed(problem, generation, status)
        except ExternalIdentityError as error:
            return await self._failed(self._problem_from(error), generation, status)
        return await self._issued(token, binding, identity, target, inputs, status)

    def _inputs(self, body: Mapping[str, Any], generation: int | None) -> Inputs:
        """What a token or a failed attempt depended on; a change re-issues or retries early."""
        ref = ((body.get("spec") or {}).get("externalIdentityRef") or {}).get("name")
        identity = self._identities(ref) if isinstance(ref, str) else None
        return Inputs(generation, json.dumps(identity, sort_keys=True, default=str))

    def forget(self) -> None:
        """The daemon is stopping: drop what we hold and our share of the gauges."""
        if self._ready is True:
            self._ready_gauge.dec()
        self._ready = None
        self.held = None

    # -- the checks, in order ---------------------------------------------------------------

    def _check(self, body: Mapping[str, Any]) -> tuple[BindingSpec, IdentitySpec, SecretTarget]:
        try:
            binding = parse_binding(body.get("spec") or {})
        except ConfigurationError as error:
            raise Problem(reasons.INVALID_SPEC, str(error)) from None
        identity_name = binding.external_identity_ref.name
        identity_body = self._identities(identity_name)
        if identity_body is None:
            raise Problem(
                reasons.IDENTITY_NOT_FOUND,
                f"ExternalIdentity {identity_name!r} does not exist; create it or fix "
                "spec.externalIdentityRef.name",
            )
        try:
            identity = parse_identity(identity_body.get("spec") or {})
        except ConfigurationError as error:
            raise Problem(
                reasons.INVALID_SPEC, f"ExternalIdentity {identity_name!r} is invalid: {error}"
            ) from None
        if not identity.allows_namespace(self.namespace):
            raise Problem(
                reasons.NAMESPACE_NOT_ALLOWED,
                f"ExternalIdentity {identity_name!r} does not allow namespace "
                f"{self.namespace!r}; ask an admin to add it to spec.allowedNamespaces",
            )
        if binding.ttl is not None and binding.ttl > identity.max_ttl:
            raise Problem(
                reasons.INVALID_SPEC,
                f"spec.ttl ({binding.ttl}s) exceeds ExternalIdentity {identity_name!r} "
                f"maxTTL ({identity.max_ttl}s); lower spec.ttl",
            )
        return binding, identity, self._target(binding, identity_name)

    def _target(self, binding: BindingSpec, identity_name: str) -> SecretTarget:
        return SecretTarget(
            namespace=self.namespace,
            name=binding.secret.name,
            owner_key=self.uid,
            identity=identity_name,
            keys=binding.secret.keys.keys(),
            labels=binding.secret.labels,
            annotations=binding.secret.annotations,
            owner=OwnerReference(
                api_version=f"{GROUP}/{VERSION}",
                kind="ServiceAccountBinding",
                name=self.name,
                uid=self.uid,
            ),
        )

    # -- decisions --------------------------------------------------------------------------

    def _resume(
        self,
        stored: StoredToken | None,
        target: SecretTarget,
        inputs: Inputs,
        status: Mapping[str, Any],
    ) -> Held | None:
        """After a restart: trust a token we wrote earlier for this same spec."""
        if stored is None or not stored.data_intact or stored.expires_at is None:
            return None
        if status.get("observedGeneration") != inputs.generation:
            return None
        issued_at = stored.refreshed_at or parse_rfc3339(str(status.get("lastRefreshTime")))
        refresh_at = parse_rfc3339(str(status.get("nextRefreshTime")))
        if issued_at is None or refresh_at is None or refresh_at >= stored.expires_at:
            return None
        return Held(
            target=target,
            inputs=inputs,
            issued_at=issued_at,
            expires_at=stored.expires_at,
            refresh_at=refresh_at,
        )

    def _fresh(self, held: Held | None, target: SecretTarget, inputs: Inputs) -> bool:
        """The held token still answers this spec and identity, and is not due yet."""
        return (
            held is not None
            and held.target == target
            and held.inputs == inputs
            and self._clock() < held.refresh_at
        )

    def _seconds_until(self, moment: datetime) -> float:
        return max((moment - self._clock()).total_seconds(), 0.0)

    async def _retire(self, old: SecretTarget) -> None:
        """The binding now names another Secret: remove the one we wrote before."""
        with contextlib.suppress(SecretConflict):
            await self._secrets.delete(old)
        self.held = None

    # -- outcomes ---------------------------------------------------------------------------

    async def _issued(
        self,
        token: IssuedToken,
        binding: BindingSpec,
        identity: IdentitySpec,
        target: SecretTarget,
        inputs: Inputs,
        status: Mapping[str, Any],
    ) -> float:
        generation = inputs.generation
        policy = binding.refresh_policy
        fraction = (
            policy.refresh_at_percent / 100
            if policy.refresh_at_percent is not None
            else self._settings.refresh_fraction
        )
        margin = (
            policy.min_remaining_seconds
            if policy.min_remaining_seconds is not None
            else self._settings.safety_margin_seconds
        )
        refresh_at = refresh_time(
            issued_at=token.issued_at,
            expires_at=token.expires_at,
            fraction=fraction,
            margin=timedelta(seconds=margin),
            jitter_fraction=self._settings.jitter_fraction,
            rng=self._rng,
        )
        self.held = Held(
            target=target,
            inputs=inputs,
            issued_at=token.issued_at,
            expires_at=token.expires_at,
            refresh_at=refresh_at,
            token=token,
        )
        self.failures = 0
        self._retry_at = None
        message = (
            f"token for service account {binding.service_account_id} from "
            f"{identity.token_service.host} written to Secret {target.name}; "
            f"expires {rfc3339(token.expires_at)}, refresh at {rfc3339(refresh_at)}"
        )
        new_status: dict[str, Any] = {
            "conditions": self._conditions(status, True, reasons.TOKEN_ISSUED, message, generation),
            "observedGeneration": generation,
            "expiresAt": rfc3339(token.expires_at),
            "lastRefreshTime": rfc3339(token.issued_at),
            "nextRefreshTime": rfc3339(refresh_at),
            "ttl": token.ttl,
            "secretName": target.name,
            "failureCount": 0,
        }
        if token.principal:
            new_status["principal"] = token.principal
        await self._write_status(new_status)
        if self._ready is not True:
            self._events(warning=False, reason=reasons.TOKEN_ISSUED, message=message)
            self._ready_gauge.inc()
        self._ready = True
        log.info("Issued token for %s/%s (ttl %ss)", self.namespace, self.name, token.ttl)
        return self._seconds_until(refresh_at)

    def _problem_from(self, error: ExternalIdentityError) -> Problem:
        if isinstance(error, RequestRejected):
            return Problem(reasons.REJECTED, str(error))
        if isinstance(error, SecretConflict):
            return Problem(reasons.SECRET_CONFLICT, str(error))
        if isinstance(error, ConfigurationError):
            return Problem(reasons.INVALID_SPEC, str(error))
        if isinstance(error, CredentialsUnavailable):
            return Problem(reasons.CREDENTIALS_UNAVAILABLE, str(error), retry_soon=True)
        return Problem(
            reasons.EXCHANGE_FAILED,
            f"{error}; retrying",
            retry_soon=error.retryable,
            retry_after=error.retry_after if isinstance(error, RateLimited) else None,
        )

    async def _failed(
        self, problem: Problem, generation: int | None, status: Mapping[str, Any]
    ) -> float:
        now = self._clock()
        self.failures += 1
        if problem.retry_soon:
            delay = retry_delay(
                failures=self.failures,
                base=self._settings.backoff_base_seconds,
                cap=self._settings.backoff_cap_seconds,
                retry_after=problem.retry_after,
                rng=self._rng,
            )
        else:
            delay = self._settings.permanent_retry_seconds
        reason = problem.reason
        expires_at = self.held.expires_at if self.held else parse_rfc3339(
            str(status.get("expiresAt"))
        )
        message = problem.message
        if expires_at is not None and expires_at <= now and reason != reasons.SECRET_CONFLICT:
            message = f"token expired at {rfc3339(expires_at)}; last error: {message}"
            reason = reasons.EXPIRED
        self._retry_at = now + timedelta(seconds=delay)
        new_status: dict[str, Any] = {
            "conditions": self._conditions(status, False, reason, message, generation),
            "observedGeneration": generation,
            "nextRefreshTime": rfc3339(now + timedelta(seconds=delay)),
            "failureCount": self.failures,
            "lastFailureTime": rfc3339(now),
        }
        await self._write_status(new_status)
        self._events(warning=True, reason=reason, message=message)
        if self._ready is True:
            self._ready_gauge.dec()
        self._ready = False
        log.warning("%s/%s: %s: %s", self.namespace, self.name, reason, message)
        return delay

    async def _write_status(self, status: dict[str, Any]) -> None:
        """Write status; if the API refuses, keep it and try again on the next step."""
        try:
            await self._statuses.patch_binding(
                namespace=self.namespace, name=self.name, status=status
            )
        except StatusWriteError as error:
            log.warning("%s/%s: status not written, will retry: %s", self.namespace, self.name,
                        error)
            self._pending_status = status
        else:
            self._pending_status = None

    def _conditions(
        self,
        status: Mapping[str, Any],
        ready: bool,
        reason: str,
        message: str,
        generation: int | None,
    ) -> list[dict[str, Any]]:
        return set_condition(
            status.get("conditions") or [],
            type_=reasons.READY,
            status=ready,
            reason=reason,
            message=message,
            generation=generation,
            now=self._clock(),
        )

