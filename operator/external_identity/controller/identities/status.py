"""ExternalIdentity status: whether its spec is usable, its bindings, the principal it proves."""

from __future__ import annotations

import asyncio
import logging
import random
from collections.abc import Callable, Iterable, Mapping
from dataclasses import replace
from datetime import datetime, timedelta
from typing import Any

from external_identity.api import conditions
from external_identity.api.conditions import set_condition
from external_identity.api.resources import IDENTITY_KIND
from external_identity.api.specs import parse_identity
from external_identity.api.times import Clock
from external_identity.controller.decide.timing import retry_delay
from external_identity.controller.identities.cache import IdentityCache
from external_identity.controller.shards.entries import OperatorEntry, read_entries, totals
from external_identity.controller.shards.scopes import OperatorScope
from external_identity.controller.statuses import StatusWriter
from external_identity.errors import ConfigurationError, ExternalIdentityError
from external_identity.logrefs import about

__all__ = ["IdentityStatuses", "identity_readiness"]

log = logging.getLogger(__name__)

#: A status write the API keeps refusing is retried at least this often (seconds).
RETRY_CAP_SECONDS = 30.0

NO_ACCOUNTS_LISTED = (
    "no binding can get a token until spec.serviceAccounts lists the Phase service accounts "
    "this identity may mint for (credentials.source Operator: every binding proves the "
    "operator's own principal), e.g. serviceAccounts: [{id: "
    "0f1a2b3c-4d5e-6789-abcd-ef0123456789, namespaces: [payments]}]; id \"*\" allows any"
)


def identity_readiness(
    spec: Mapping[str, Any],
    previous: Mapping[str, Any],
    *,
    generation: int | None,
    now: datetime,
    credentials_problem: str | None = None,
) -> dict[str, Any]:
    """The identity's Ready condition and observedGeneration, as a status patch. Pure.

    ``credentials_problem`` is why the operator's own credentials could not produce a proof
    for this identity when it last tried (None: they could, or it has not tried yet).
    """
    try:
        identity = parse_identity(spec)
    except ConfigurationError as error:
        ready, reason, message = False, conditions.INVALID_SPEC, str(error)
    else:
        ready, reason, message = True, conditions.VALID, "spec is valid"
        if identity.credentials.source == "ServiceAccount":
            message = ("spec is valid; each binding exchanges its own ServiceAccount "
                       "(spec.serviceAccountName)")
        elif identity.service_accounts is None:
            ready, reason = False, conditions.SERVICE_ACCOUNT_NOT_ALLOWED
            message = NO_ACCOUNTS_LISTED
        elif credentials_problem is not None:
            ready, reason = False, conditions.CREDENTIALS_UNAVAILABLE
            message = (
                f"the operator's own credentials cannot prove who it is: {credentials_problem}"
            )
    return {
        "conditions": set_condition(
            previous.get("conditions") or [], type_=conditions.READY, status=ready,
            reason=reason, message=message, generation=generation, now=now,
        ),
        "observedGeneration": generation,
    }


class IdentityStatuses:
    """Keeps this operator's entry in each identity's ``status.operators``, and the totals.

    The entry (see :mod:`..shards.entries`) holds how many bindings referencing the identity
    this operator serves (``bindings``), how many of them are Ready, the cloud principal its
    exchanges and probes proved (what to trust in Phase), its scope, when it registered there
    (``since``, kept across restarts while the entry is live) and a ``heartbeat`` rewritten
    every ``heartbeat_seconds``. The top-level ``bindings``, ``readyBindings`` and
    ``principal`` are the totals over the live entries, as every operator computes them alike;
    entries gone stale are removed. Changes only mark the status stale; one task writes shortly
    after, so a burst of thousands of bindings costs one status write per identity that
    changed. An identity without this operator's entry is written at once: its bindings wait
    for it (see :mod:`..shards.gate`).
    """

    def __init__(
        self,
        statuses: StatusWriter,
        *,
        identities: IdentityCache,
        me: str,
        scope: OperatorScope,
        clock: Clock,
        heartbeat_seconds: float = 60.0,
        stale_after: timedelta | None = None,
        settle_seconds: float = 2.0,
        retry_seconds: float = 2.0,
    ) -> None:
        self._statuses = statuses
        self._identities = identities
        self._me = me
        self._scope = scope
        self._clock = clock
        self._heartbeat = heartbeat_seconds
        self._stale_after = stale_after or timedelta(seconds=3 * heartbeat_seconds)
        self._settle = settle_seconds
        self._retry = retry_seconds
        self._rng = random.Random()
        #: Per identity: when this operator registered there, and its entry as last written.
        self._since: dict[str, datetime] = {}
        self._written: dict[str, OperatorEntry] = {}
        #: Per identity: our live entry as found at registration (its counts stand until ours
        #: are known), and whether the cache has shown our registration.
        self._carried: dict[str, OperatorEntry] = {}
        self._registered: set[str] = set()
        #: Per identity: the totals last written, and the totals the cache showed then.
        self._totals: dict[str, tuple[dict[str, Any], dict[str, Any]]] = {}
        self._principals: dict[str, str] = {}
        self._count: Callable[[], Mapping[str, Mapping[str, int]]] | None = None
        self._acting = False
        self._beat = False
        self._task: asyncio.Task[None] | None = None
        self._beating: asyncio.Task[None] | None = None
        self._dirty = False

    def start(self) -> None:
        """Act: register on every identity now, and keep the heartbeat."""
        self._acting = True
        self._beating = asyncio.get_running_loop().create_task(self._beat_every())
        self._schedule()

    async def stop(self) -> None:
        """Stand by: another replica (of the same name) writes from now on."""
        self._acting = False
        await self.close()
        for name in list(self._since):
            self.forget(name)
        self._count = None

    def stale(self, *, counts: Callable[[], Mapping[str, Mapping[str, int]]]) -> None:
        """Bindings changed: recount soon. ``counts`` gives, per identity,
        ``{"bindings": n, "readyBindings": m}`` (the bindings this operator serves)."""
        self._count = counts
        self._schedule()

    def seen(self, identity: str) -> None:
        """The identity was listed or watched: other entries, or ours, may have changed."""
        cached = self._identities.get(identity)
        since = self._since.get(identity)
        if cached is not None and since is not None:
            entries = read_entries(cached["status"])
            mine = entries.get(self._me)
            if mine is not None and mine.since == since:
                if identity not in self._registered:
                    self._settle_registration(identity, mine, entries.values())
            elif mine is None and identity in self._registered:
                # Another operator removed our entry as stale: register anew, ranking last.
                log.warning("ExternalIdentity %s: this operator's entry was removed as stale; "
                            "registering again", identity, extra=about(IDENTITY_KIND, identity))
                self.forget(identity)
        self._schedule()

    def registered(self, identity: str) -> bool:
        """Whether this operator's entry on ``identity`` is written, seen, and ranked after
        every operator that registered there before it."""
        return identity in self._registered

    def _settle_registration(
        self, identity: str, mine: OperatorEntry, entries: Iterable[OperatorEntry],
    ) -> None:
        """Our new entry is seen, with every entry written before it: one that ranks after it
        (a later or equal ``since``, its clock read before ours but written first) may already
        serve, so we rank after it instead. An entry kept from our last run keeps its rank."""
        now = self._clock()
        behind = [entry.since for entry in entries
                  if entry.name != self._me and entry.since is not None
                  and entry.live(now=now, stale_after=self._stale_after)
                  and not entry.outranks(mine)]
        if behind and identity not in self._carried:
            self._since[identity] = max(behind) + timedelta(seconds=1)
            self._written.pop(identity, None)
            log.info("ExternalIdentity %s: an operator registered there just before this one; "
                     "ranking after it", identity, extra=about(IDENTITY_KIND, identity))
            return
        self._registered.add(identity)

    def saw_principal(self, identity: str, principal: str) -> None:
        """An exchange or probe through ``identity`` proved ``principal``."""
        if self._principals.get(identity) == principal:
            return
        self._principals[identity] = principal
        self._schedule()

    def forget(self, name: str) -> None:
        self._since.pop(name, None)
        self._written.pop(name, None)
        self._totals.pop(name, None)
        self._principals.pop(name, None)
        self._carried.pop(name, None)
        self._registered.discard(name)

    def _schedule(self) -> None:
        if not self._acting:
            return
        self._dirty = True
        if self._task is None or self._task.done():
            self._task = asyncio.get_running_loop().create_task(self._recount())

    async def _beat_every(self) -> None:
        while True:
            await asyncio.sleep(self._heartbeat)
            self._beat = True
            self._schedule()

    async def _recount(self) -> None:
        failures = 0
        while self._dirty:
            self._dirty = False
            if not self._beat and self._identities.names() <= set(self._written):
                await asyncio.sleep(self._settle)  # registration and heartbeats do not wait
            if await self._write_changed():
                failures = 0
                continue
            self._dirty = True
            failures += 1
            await asyncio.sleep(retry_delay(failures=failures, base=self._retry,
                                            cap=RETRY_CAP_SECONDS, retry_after=None,
                                            rng=self._rng))

    async def _write_changed(self) -> bool:
        now = self._clock()
        beat, self._beat = self._beat, False
        counts = self._count() if self._count is not None else None
        done = True
        for name in sorted(self._identities.names()):
            cached = self._identities.get(name)
            if cached is None:
                continue
            patch, entry, totals_now = self._patch(name, cached["status"], counts, now, beat)
            if not patch:
                continue
            try:
                await self._statuses.patch_identity(name=name, status=patch)
            except ExternalIdentityError as error:
                log.warning("ExternalIdentity %s: status not written: %s", name, error,
                            extra=about(IDENTITY_KIND, name))
                done = False
                continue
            if "operators" in patch and self._me in patch["operators"]:
                self._written[name] = entry
            self._totals[name] = totals_now
        return done

    def _patch(
        self, name: str, status: Mapping[str, Any],
        counts: Mapping[str, Mapping[str, int]] | None, now: datetime, beat: bool,
    ) -> tuple[dict[str, Any], OperatorEntry, tuple[dict[str, Any], dict[str, Any]]]:
        """What to write on identity ``name``: our entry (if it changed or its heartbeat is
        due), null over stale entries, and the totals the cache does not show yet."""
        entries = read_entries(status)
        since = self._since.get(name)
        if since is None:
            found = entries.get(self._me)
            if (found is not None and found.since is not None
                    and found.live(now=now, stale_after=self._stale_after)):
                since, self._carried[name] = found.since, found
            else:
                since = now.replace(microsecond=0)  # as written: the entry says whole seconds
            self._since[name] = since
        carried = self._carried.get(name)
        count = counts.get(name, {}) if counts is not None else None
        written = self._written.get(name)
        entry = OperatorEntry(
            name=self._me, scope=self._scope, since=since,
            heartbeat=written.heartbeat if written is not None else None,
            bindings=(count.get("bindings", 0) if count is not None
                      else carried.bindings if carried is not None else None),
            ready_bindings=(count.get("readyBindings", 0) if count is not None
                            else carried.ready_bindings if carried is not None else None),
            principal=self._principals.get(name) or (carried.principal if carried else None),
        )
        operators: dict[str, Any] = {}
        if written is None or beat or replace(written, heartbeat=None) != replace(
            entry, heartbeat=None
        ):
            entry = replace(entry, heartbeat=now)
            operators[self._me] = entry.as_status()
        others = [other for other in entries.values() if other.name != self._me]
        live = [other for other in others if other.live(now=now, stale_after=self._stale_after)]
        for other in others:
            if other not in live:
                operators[other.name] = None
        patch: dict[str, Any] = {"operators": operators} if operators else {}
        wanted = totals([*live, entry])
        shown = {key: status.get(key) for key in wanted}
        last = self._totals.get(name)
        for key, value in wanted.items():
            pending = last is not None and last[0].get(key) == value and last[1] == shown
            if shown[key] != value and not pending:
                patch[key] = value
        return patch, entry, (wanted, shown)

    async def close(self) -> None:
        tasks = [task for task in (self._task, self._beating) if task is not None]
        self._task = self._beating = None
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
