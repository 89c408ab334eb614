"""Carries out one binding's plans: the I/O around the pure decision chain.

Each :meth:`BindingReconciler.step` reads the Secret back (from the watch-fed cache), asks
:func:`.decisions.decide` what to do, does it (exchange, write, relabel, delete), and reports
the outcome through :mod:`.outcomes`. Before minting for a Secret the cache does not know, it
reads that Secret from the API once: the name may be taken by someone else's Secret (then no
token is minted), or the Secret may be ours but have lost the label the watch selects by.
Kubernetes and the token service are reached only through the injected
writers and pool; every failure is one of the package's errors and becomes a condition.
"""

from __future__ import annotations

import logging
import random
from collections.abc import Callable, Mapping
from dataclasses import dataclass, replace
from datetime import datetime
from typing import Any, Protocol

from external_identity.api import conditions
from external_identity.api.problems import Problem, problem_for
from external_identity.api.resources import BINDING_KIND
from external_identity.api.times import Clock, rfc3339
from external_identity.controller.bindings import outcomes
from external_identity.controller.decide.backoffs import Backoff, after_failure, restored_backoff
from external_identity.controller.decide.decisions import decide
from external_identity.controller.decide.fingerprints import inputs_key
from external_identity.controller.decide.plans import (
    REFRESH_ANNOTATION,
    Adopt,
    Exchange,
    Held,
    Plan,
    Refuse,
    Relabel,
    Repair,
    Situation,
    Suspend,
    Wait,
)
from external_identity.controller.decide.timing import refresh_moment
from external_identity.controller.events import EventPoster
from external_identity.controller.metrics import BindingMetrics
from external_identity.controller.rollouts import token_fingerprint
from external_identity.controller.settings import OperatorSettings
from external_identity.controller.statuses import StatusWriter
from external_identity.errors import ExternalIdentityError, SecretConflict
from external_identity.exchange.pool import ExchangePool
from external_identity.logrefs import about
from external_identity.secrets.data import SecretTarget, StoredToken
from external_identity.secrets.store import TokenSecrets
from external_identity.secrets.targets import read_target

__all__ = ["BindingParts", "BindingReconciler", "IdentityLookup", "PrincipalSink", "TokenWritten"]

log = logging.getLogger(__name__)

IdentityLookup = Callable[[str], Mapping[str, Any] | None]
#: Told (identity name, principal) whenever an exchange proves who the operator is.
PrincipalSink = Callable[[str, str], None]


class TokenWritten(Protocol):
    """Told (namespace, binding, token fingerprint) after a newly minted token is written;
    ``replaced``: over an earlier token (a rotation), not into a new Secret."""

    def __call__(
        self, namespace: str, binding: str, fingerprint: str, *, replaced: bool
    ) -> None: ...


@dataclass(frozen=True)
class BindingParts:
    """What every binding's reconciler shares: caches, writers, the pool and the settings."""

    identities: IdentityLookup
    pool: ExchangePool
    secrets: TokenSecrets
    statuses: StatusWriter
    events: EventPoster
    metrics: BindingMetrics
    principals: PrincipalSink
    settings: OperatorSettings
    clock: Clock
    rng: random.Random
    #: Restart on rotation (``--restart-on-rotation``); None when off.
    token_written: TokenWritten | None = None


class BindingReconciler:
    def __init__(
        self,
        *,
        namespace: str,
        name: str,
        uid: str,
        status: Mapping[str, Any],
        parts: BindingParts,
        readiness_changed: Callable[[], None],
    ) -> None:
        """``readiness_changed`` is told whenever :attr:`ready` flips."""
        self.namespace = namespace
        self.name = name
        self.uid = uid
        #: ``extra`` for this binding's log lines.
        self._about = about(BINDING_KIND, name, namespace)
        self._identities = parts.identities
        self._pool = parts.pool
        self._secrets = parts.secrets
        self._statuses = parts.statuses
        self._events = parts.events
        #: This binding's series; closed by :meth:`forget`, after which writes do nothing.
        self._series = parts.metrics.series(self.key)
        self._principals = parts.principals
        self._settings = parts.settings
        self._clock = parts.clock
        self._rng = parts.rng
        self._token_written = parts.token_written
        self._readiness_changed = readiness_changed
        #: The status as last written by us (we are its only writer), else as found.
        self._status: dict[str, Any] = dict(status)
        self._unwritten: dict[str, Any] | None = None
        self.held: Held | None = None
        self.backoff: Backoff | None = None
        #: Whether the binding's Ready condition is True, as this reconciler decided it.
        self.ready = False

    @property
    def key(self) -> tuple[str, str]:
        return (self.namespace, self.name)

    @property
    def status(self) -> Mapping[str, Any]:
        """The binding's status as this reconciler last wrote (or first found) it."""
        return self._status

    async def step(self, body: Mapping[str, Any]) -> float:
        """Bring the binding up to date; return seconds until the next step is due."""
        try:
            return await self._step(body)
        finally:
            self.show_secret(body.get("spec") or {})

    def show_secret(self, spec: Mapping[str, Any]) -> None:
        """Expiry and TTL series from what the binding's Secret holds (the watch-fed cache), so
        they say the truth from before the first step on, and while refreshes fail."""
        target = read_target(namespace=self.namespace, name=self.name, uid=self.uid, spec=spec)
        try:
            stored = None if target is None else self._secrets.cached(target)
        except SecretConflict:
            stored = None
        if (stored is not None and stored.data_intact and stored.issued_at is not None
                and stored.expires_at is not None):
            self._series.holds(issued_at=stored.issued_at, expires_at=stored.expires_at)
        else:
            self._series.holds_nothing()

    async def _step(self, body: Mapping[str, Any]) -> float:
        now = self._clock()
        spec: Mapping[str, Any] = body.get("spec") or {}
        metadata: Mapping[str, Any] = body.get("metadata") or {}
        generation = metadata.get("generation")
        refresh_request = (metadata.get("annotations") or {}).get(REFRESH_ANNOTATION)
        ref = (spec.get("externalIdentityRef") or {}).get("name")
        identity = self._identities(ref) if isinstance(ref, str) else None
        inputs = inputs_key(generation, identity, refresh_request)
        if self.backoff is None:
            self.backoff = restored_backoff(
                self._status, generation=generation, inputs=inputs, now=now
            )
            if self.backoff.retry_at is not None:
                log.info("%s/%s: resuming the backoff of its last failure; next attempt at %s",
                         self.namespace, self.name, rfc3339(self.backoff.retry_at),
                         extra=self._about)
        if self._unwritten is not None:
            await self._write_status({})
        try:
            stored = await self._read_back(spec)
        except ExternalIdentityError as error:
            return await self._fail(problem_for(error), inputs, generation)
        situation = Situation(
            namespace=self.namespace, name=self.name, uid=self.uid, generation=generation,
            spec=spec, status=self._status, identity=identity, stored=stored, held=self.held,
            backoff=self.backoff, now=now, settings=self._settings,
            refresh_request=refresh_request,
        )
        plan = decide(situation)
        try:
            if isinstance(plan, Exchange) and stored is None:
                situation = replace(situation, stored=await self._look(plan.target))
                plan = decide(situation) if situation.stored is not None else plan
            delay = await self._carry_out(plan, situation, inputs)
        except ExternalIdentityError as error:
            return await self._fail(problem_for(error), inputs, generation)
        if self._unwritten is not None:
            delay = min(delay, self._settings.backoff_base_seconds)
        return delay

    def forget(self) -> None:
        """The binding is no longer ours to keep (stopped or deleted); a step still running
        writes no series from now on."""
        self._series.close()
        self.held = None
        self.ready = False

    # -- carrying out ---------------------------------------------------------------------------

    async def _read_back(self, spec: Mapping[str, Any]) -> StoredToken | SecretConflict | None:
        target = read_target(namespace=self.namespace, name=self.name, uid=self.uid, spec=spec)
        if target is None:
            return None
        try:
            return self._secrets.cached(target)
        except SecretConflict as conflict:
            return conflict

    async def _look(self, target: SecretTarget) -> StoredToken | SecretConflict | None:
        """The Secret as the API has it: the cache only knows the labelled ones."""
        try:
            return await self._secrets.look(target)
        except SecretConflict as conflict:
            return conflict

    async def _carry_out(self, plan: Plan, situation: Situation, inputs: str) -> float:
        stored, generation = situation.stored, situation.generation
        known = None if isinstance(stored, SecretConflict) else stored
        match plan:
            case Wait(until=until):
                return self._seconds_until(until)
            case Adopt(held=held, ready=ready, relabel=relabel):
                if relabel is not None:
                    assert known is not None
                    await self._secrets.relabel(held.target, known, relabel)
                self.held = held
                self._mark(ready)
                log.info("%s/%s: resumed the token in Secret %s (expires %s, refresh at %s)",
                         self.namespace, self.name, held.target.name, rfc3339(held.expires_at),
                         rfc3339(held.refresh_at), extra=self._about)
                return self._seconds_until(held.refresh_at)
            case Repair(held=held):
                assert held.token is not None
                await self._secrets.write(held.target, held.token, known=known)
                self.held = held
                log.info("%s/%s: rewrote drifted Secret %s", self.namespace, self.name,
                         held.target.name, extra=self._about)
                return self._seconds_until(held.refresh_at)
            case Relabel(held=held, metadata=metadata):
                assert known is not None
                await self._secrets.relabel(held.target, known, metadata)
                self.held = held
                log.info("%s/%s: put back the labels and annotations of Secret %s",
                         self.namespace, self.name, held.target.name, extra=self._about)
                return self._seconds_until(held.refresh_at)
            case Exchange():
                return await self._exchange(plan, situation, known, inputs)
            case Suspend(message=message):
                self.backoff = Backoff()
                await self._report(outcomes.suspended(
                    previous=self._status, message=message, generation=generation,
                    now=self._clock(),
                ))
                return self._settings.permanent_retry_seconds
            case Refuse(problem=problem, revoke=revoke):
                revoked = await self._revoke(revoke) if revoke is not None else None
                return await self._fail(problem, inputs, generation, revoked=revoked)

    async def _exchange(
        self, plan: Exchange, situation: Situation, known: StoredToken | None, inputs: str
    ) -> float:
        try:
            token = await self._pool.exchange(plan.identity, plan.binding)
        except ExternalIdentityError as error:
            self._saw_principal(plan, error.principal)
            problem = problem_for(error)
            # Only a refusal revokes: an outage keeps the old token until a new one replaces it.
            if not plan.revoke_on_failure or problem.reason != conditions.REJECTED:
                raise
            revoked = await self._revoke(plan.target)
            return await self._fail(problem, inputs, situation.generation, revoked=revoked)
        held = Held(
            target=plan.target,
            issued_at=token.issued_at,
            expires_at=token.expires_at,
            refresh_at=refresh_moment(
                issued_at=token.issued_at, expires_at=token.expires_at, binding=plan.binding,
                settings=self._settings, rng=self._rng,
            ),
            token=token,
        )
        self._saw_principal(plan, token.principal)
        self.held = held  # kept even if the write fails: the next step repairs, not re-mints
        await self._secrets.write(plan.target, token, known=known)
        if self._token_written is not None:
            self._token_written(self.namespace, self.name, token_fingerprint(token.token),
                                replaced=known is not None)
        self._series.attempted("TokenIssued")
        self.backoff = Backoff()
        report = outcomes.issued(
            previous=self._status, token=token, held=held, binding=plan.binding,
            identity=plan.identity, generation=situation.generation, now=self._clock(),
            refresh_request=situation.refresh_request,
        )
        await self._report(report)
        log.info("%s/%s: issued a token (ttl %ss); next refresh at %s", self.namespace,
                 self.name, token.ttl, rfc3339(held.refresh_at), extra=self._about)
        return self._seconds_until(held.refresh_at)

    def _saw_principal(self, plan: Exchange, principal: str | None) -> None:
        """The operator's own principal is the identity's; a per-workload one is not."""
        if principal and plan.identity.credentials.source == "Operator":
            self._principals(plan.target.identity, principal)

    async def _revoke(self, target: SecretTarget) -> str | None:
        """Delete the Secret (if still ours); the name of the Secret this deleted."""
        self.held = None
        try:
            deleted = await self._secrets.delete(target)
        except SecretConflict:
            return None
        if not deleted:
            return None
        log.warning("%s/%s: deleted Secret %s: access was revoked", self.namespace, self.name,
                    target.name, extra=self._about)
        return target.name

    async def _fail(
        self, problem: Problem, inputs: str, generation: int | None, *, revoked: str | None = None
    ) -> float:
        now = self._clock()
        self.backoff = after_failure(
            self.backoff or Backoff(), problem, inputs=inputs, now=now,
            settings=self._settings, rng=self._rng,
        )
        report = outcomes.failed(
            previous=self._status, problem=problem, backoff=self.backoff, held=self.held,
            revoked=revoked, generation=generation, now=now,
        )
        await self._report(report)
        assert report.status is not None
        condition = report.status["conditions"][-1]
        self._series.attempted(condition["reason"])
        log.warning("%s/%s: %s: %s", self.namespace, self.name, condition["reason"],
                    condition["message"], extra=self._about)
        assert self.backoff.retry_at is not None
        return self._seconds_until(self.backoff.retry_at)

    # -- reporting ------------------------------------------------------------------------------

    async def _report(self, report: outcomes.Report) -> None:
        self._mark(report.ready)
        if report.status is not None:
            await self._write_status(report.status)
        if report.event is not None:
            self._events.post(
                namespace=self.namespace, name=self.name, uid=self.uid,
                warning=report.event.warning, reason=report.event.reason,
                message=report.event.message, now=self._clock(),
            )

    def _mark(self, ready: bool) -> None:
        if ready != self.ready:
            self.ready = ready
            self._readiness_changed()

    async def _write_status(self, status: Mapping[str, Any]) -> None:
        """Write status; if the API refuses, keep it and try again on the next step."""
        patch = {**(self._unwritten or {}), **status}
        self._status = {k: v for k, v in {**self._status, **patch}.items() if v is not None}
        try:
            await self._statuses.patch_binding(
                namespace=self.namespace, name=self.name, status=patch
            )
        except ExternalIdentityError as error:
            log.warning("%s/%s: status not written, will retry: %s", self.namespace, self.name,
                        error, extra=self._about)
            self._unwritten = patch
        else:
            self._unwritten = None

    def _seconds_until(self, moment: datetime) -> float:
        return max((moment - self._clock()).total_seconds(), 0.0)
