"""ExternalIdentity status: whether its spec is usable, its bindings, the principal it proves."""

from __future__ import annotations

import asyncio
import logging
import random
from collections.abc import Callable, Mapping
from datetime import datetime
from typing import Any

from external_identity.api import conditions
from external_identity.api.conditions import set_condition
from external_identity.api.resources import IDENTITY_KIND
from external_identity.api.specs import parse_identity
from external_identity.controller.decide.timing import retry_delay
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
    """Keeps each identity's ``status.bindings``, ``readyBindings`` and ``principal`` current.

    ``bindings`` is the number of bindings referencing the identity, ``readyBindings`` how many
    of them are Ready; ``principal`` the cloud
    principal its exchanges proved (what to trust in Phase), as the last exchange saw it.
    Changes only mark the status stale; one task writes shortly after, so a burst of
    thousands of bindings costs one status write per identity that changed. An operator that
    watches only some namespaces sees only some bindings (and may run as another principal),
    so it leaves these cluster-scoped fields alone rather than fight a cluster-wide operator.
    """

    def __init__(
        self,
        statuses: StatusWriter,
        *,
        enabled: bool = True,
        settle_seconds: float = 2.0,
        retry_seconds: float = 2.0,
    ) -> None:
        self._statuses = statuses
        self._enabled = enabled
        self._settle = settle_seconds
        self._retry = retry_seconds
        self._rng = random.Random()
        self._written: dict[str, dict[str, Any]] = {}
        self._principals: dict[str, str] = {}
        self._count: Callable[[], Mapping[str, Mapping[str, int]]] | None = None
        self._known: Callable[[], set[str]] | None = None
        self._task: asyncio.Task[None] | None = None
        self._dirty = False

    @property
    def enabled(self) -> bool:
        return self._enabled

    def stale(
        self,
        *,
        counts: Callable[[], Mapping[str, Mapping[str, int]]],
        known: Callable[[], set[str]],
        written: Mapping[str, Mapping[str, Any]] | None = None,
    ) -> None:
        """Something changed: recount soon. ``written`` gives what each status already says.

        ``counts`` gives, per identity, ``{"bindings": n, "readyBindings": m}``.
        """
        if not self._enabled:
            return
        self._count, self._known = counts, known
        for name, fields in (written or {}).items():
            self._written.setdefault(name, {k: v for k, v in fields.items() if v is not None})
        self._schedule()

    def saw_principal(self, identity: str, principal: str) -> None:
        """An exchange through ``identity`` proved ``principal``."""
        if not self._enabled or self._principals.get(identity) == principal:
            return
        self._principals[identity] = principal
        if self._count is not None:
            self._schedule()

    def forget(self, name: str) -> None:
        self._written.pop(name, None)
        self._principals.pop(name, None)

    def _schedule(self) -> None:
        self._dirty = True
        if self._task is None or self._task.done():
            self._task = asyncio.get_running_loop().create_task(self._recount())

    async def _recount(self) -> None:
        failures = 0
        while self._dirty:
            self._dirty = False
            await asyncio.sleep(self._settle)
            if await self._write_changed():
                failures = 0
                continue
            self._dirty = True
            failures += 1
            await asyncio.sleep(retry_delay(failures=failures, base=self._retry,
                                            cap=RETRY_CAP_SECONDS, retry_after=None,
                                            rng=self._rng))

    def _wanted(self, name: str, counts: Mapping[str, Mapping[str, int]]) -> dict[str, Any]:
        wanted: dict[str, Any] = {"bindings": 0, "readyBindings": 0, **counts.get(name, {})}
        if name in self._principals:
            wanted["principal"] = self._principals[name]
        return wanted

    async def _write_changed(self) -> bool:
        assert self._count is not None and self._known is not None
        counts, known = self._count(), self._known()
        done = True
        for name in sorted(known):
            written = self._written.setdefault(name, {})
            patch = {k: v for k, v in self._wanted(name, counts).items() if written.get(k) != v}
            if not patch:
                continue
            try:
                await self._statuses.patch_identity(name=name, status=patch)
            except ExternalIdentityError as error:
                log.warning("ExternalIdentity %s: status not written: %s", name, error,
                            extra=about(IDENTITY_KIND, name))
                done = False
            else:
                written.update(patch)
        return done

    async def close(self) -> None:
        if self._task is not None:
            self._task.cancel()
            await asyncio.gather(self._task, return_exceptions=True)
