"""Whether the operator's own credentials can prove who it is, per identity, without exchanging.

On an identity's creation or spec change, and then every ``interval`` seconds (not per
binding), the probe asks the identity's provider for a proof — the signed STS request or the
Entra token an exchange would send — and stops there. Success tells the principal the token
service would see (``status.principal``); failure makes the identity Ready=False
``CredentialsUnavailable``, naming the credentials the provider tried and the fix. Identities
with per-workload credentials have nothing to prove centrally and are not probed.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable
from datetime import datetime

from external_identity.api.resources import IDENTITY_KIND
from external_identity.api.specs import IdentitySpec, parse_identity
from external_identity.controller.identities.cache import IdentityCache
from external_identity.controller.identities.status import identity_readiness
from external_identity.controller.statuses import StatusWriter
from external_identity.errors import ConfigurationError, ExternalIdentityError
from external_identity.exchange.proofs import Proof
from external_identity.logrefs import about
from external_identity.waits import wait_set

__all__ = ["IdentityProbe"]

log = logging.getLogger(__name__)

_UNPROBED = "not probed yet"


class IdentityProbe:
    def __init__(
        self,
        *,
        prove: Callable[[IdentitySpec], Awaitable[Proof]],
        identities: IdentityCache,
        statuses: StatusWriter,
        principals: Callable[[str, str], None],
        clock: Callable[[], datetime],
        interval: float,
    ) -> None:
        self._prove = prove
        self._identities = identities
        self._statuses = statuses
        self._principals = principals
        self._clock = clock
        self._interval = interval
        #: Per identity: why its last proof failed (None: it worked, or nothing to prove).
        self._problems: dict[str, str | None] = {}
        self._due: dict[str, float] = {}
        self._woken = asyncio.Event()

    def problem(self, name: str) -> str | None:
        found = self._problems.get(name)
        return None if found == _UNPROBED else found

    def changed(self, name: str) -> None:
        """Probe ``name`` now (it was created, or its spec changed)."""
        self._due[name] = 0.0
        self._woken.set()

    def forget(self, name: str) -> None:
        self._due.pop(name, None)
        self._problems.pop(name, None)

    async def run(self) -> None:
        while True:
            now = time.monotonic()
            for name in [name for name, due in self._due.items() if due <= now]:
                self._due[name] = now + self._interval
                await self._probe(name)
            self._woken.clear()
            wait = min(self._due.values(), default=now + self._interval) - time.monotonic()
            await wait_set(self._woken, max(wait, 0.0))

    async def _probe(self, name: str) -> None:
        entry = self._identities.get(name)
        if entry is None:
            self.forget(name)
            return
        try:
            spec = parse_identity(entry["spec"])
        except ConfigurationError:
            return  # the Ready condition already says InvalidSpec
        problem: str | None = None
        if spec.credentials.source == "Operator":
            try:
                proof = await self._prove(spec)
            except ExternalIdentityError as error:
                problem = str(error)
            else:
                if proof.principal:
                    self._principals(name, proof.principal)
        if self._problems.get(name, _UNPROBED) == problem:
            return
        before = self._problems.get(name, _UNPROBED)
        self._problems[name] = problem
        if before == _UNPROBED and problem is None:
            return  # what the spec check already wrote stands
        ref = about(IDENTITY_KIND, name)
        if problem is not None:
            log.warning("ExternalIdentity %s: %s", name, problem, extra=ref)
        patch = identity_readiness(
            entry["spec"], {"conditions": entry["conditions"]}, generation=entry["generation"],
            now=self._clock(), credentials_problem=problem,
        )
        try:
            await self._statuses.patch_identity(name=name, status=patch)
        except ExternalIdentityError as error:
            log.warning("ExternalIdentity %s: status not written: %s", name, error, extra=ref)
            self._problems[name] = before  # written on the next probe
