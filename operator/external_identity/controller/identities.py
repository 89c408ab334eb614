"""ExternalIdentity status: whether its spec is usable, and how many bindings reference it."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Mapping
from datetime import datetime
from typing import Any

from ..errors import ConfigurationError, ExternalIdentityError
from . import conditions as reasons
from .conditions import set_condition
from .decisions import UNSUPPORTED_SOURCES
from .specs import parse_identity
from .statuses import StatusWriter

__all__ = ["BindingCounts", "identity_readiness"]

log = logging.getLogger(__name__)


def identity_readiness(
    spec: Mapping[str, Any],
    previous: Mapping[str, Any],
    *,
    generation: int | None,
    now: datetime,
) -> dict[str, Any]:
    """The identity's Ready condition and observedGeneration, as a status patch. Pure."""
    try:
        identity = parse_identity(spec)
    except ConfigurationError as error:
        ready, reason, message = False, reasons.INVALID_SPEC, str(error)
    else:
        if identity.credentials.source in UNSUPPORTED_SOURCES:
            ready, reason = False, reasons.CREDENTIALS_UNAVAILABLE
            message = (
                f"credentials.source {identity.credentials.source} (per-workload identity) is "
                "not supported by this operator version yet, so every binding would fail; "
                "set credentials.source to Operator"
            )
        else:
            ready, reason, message = True, reasons.VALID, "spec is valid"
    return {
        "conditions": set_condition(
            previous.get("conditions") or [], type_=reasons.READY, status=ready,
            reason=reason, message=message, generation=generation, now=now,
        ),
        "observedGeneration": generation,
    }


class BindingCounts:
    """Keeps ``status.bindings`` of every identity equal to the bindings referencing it.

    Binding events only mark the count stale; one task recounts shortly after, so a burst
    of thousands of bindings costs one status write per identity whose count changed.
    An operator that watches only some namespaces sees only some bindings, so it leaves the
    (cluster-scoped) count alone rather than fight a cluster-wide operator over it.
    """

    def __init__(
        self,
        statuses: StatusWriter,
        *,
        enabled: bool = True,
        settle_seconds: float = 0.5,
        retry_seconds: float = 2.0,
    ) -> None:
        self._statuses = statuses
        self._enabled = enabled
        self._settle = settle_seconds
        self._retry = retry_seconds
        self._written: dict[str, int] = {}
        self._count: Callable[[], Mapping[str, int]] | None = None
        self._known: Callable[[], set[str]] | None = None
        self._task: asyncio.Task[None] | None = None
        self._dirty = False

    def stale(self, *, counts: Callable[[], Mapping[str, int]], known: Callable[[], set[str]],
              written: Mapping[str, int | None] | None = None) -> None:
        """Something changed: recount soon. ``written`` gives counts already in status."""
        if not self._enabled:
            return
        self._count, self._known = counts, known
        for name, value in (written or {}).items():
            if value is not None:
                self._written.setdefault(name, value)
        self._dirty = True
        if self._task is None or self._task.done():
            self._task = asyncio.get_running_loop().create_task(self._recount())

    def forget(self, name: str) -> None:
        self._written.pop(name, None)

    async def _recount(self) -> None:
        while self._dirty:
            self._dirty = False
            await asyncio.sleep(self._settle)
            if not await self._write_changed():
                self._dirty = True
                await asyncio.sleep(self._retry)

    async def _write_changed(self) -> bool:
        assert self._count is not None and self._known is not None
        counts, known = self._count(), self._known()
        done = True
        for name in sorted(known):
            count = counts.get(name, 0)
            if self._written.get(name) == count:
                continue
            try:
                await self._statuses.patch_identity(name=name, status={"bindings": count})
            except ExternalIdentityError as error:
                log.warning("ExternalIdentity %s: bindings count not written: %s", name, error)
                done = False
            else:
                self._written[name] = count
        return done

    async def close(self) -> None:
        if self._task is not None:
            self._task.cancel()
            await asyncio.gather(self._task, return_exceptions=True)
