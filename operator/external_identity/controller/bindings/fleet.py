"""Every binding this operator keeps: what it knows of each, and the workers that step them.

The informers (:mod:`.informers`, :mod:`.feeds`) tell the fleet what changed
(:meth:`BindingFleet.saw_binding`, :meth:`forget_binding`, :meth:`retain`,
:meth:`identity_changed`); a fixed number of workers take due bindings from one
:class:`.scheduler.DueQueue` and run their reconciler's step. Nothing is stepped before
:meth:`start` has listed the identities and the operator's own Secrets once, so no binding
decides on an empty cache (and revokes, or re-mints, what it should not). Bindings are listed
meanwhile, a page at a time, and each is worked on as soon as it is seen and the Secrets are
in: the first exchanges wait neither for the whole list nor for anything else.

A replica that stands by (:meth:`stand_by`, see :mod:`.peering`) forgets everything and steps
nothing; when it acts again it starts over from fresh LISTs, as a restarted operator would,
so it never writes a token older than the one the other replica left.
"""

from __future__ import annotations

import asyncio
import copy
import logging
from collections.abc import Awaitable, Callable, Mapping, Set
from dataclasses import dataclass
from typing import Any

from external_identity.api.resources import BINDING_KIND
from external_identity.api.specs import referenced_identity
from external_identity.controller.bindings.duequeue import NO_TOKEN, DueQueue
from external_identity.controller.bindings.reconciler import BindingReconciler
from external_identity.controller.decide.plans import HANDLED_REFRESH_FIELD, REFRESH_ANNOTATION
from external_identity.logrefs import about

__all__ = ["BindingFleet", "BindingKey", "ReconcilerFactory"]

BindingKey = tuple[str, str]  # (namespace, name)

log = logging.getLogger(__name__)

#: Builds the reconciler of a binding first seen as (key, uid, status).
ReconcilerFactory = Callable[[BindingKey, str, Mapping[str, Any]], BindingReconciler]


@dataclass
class _Binding:
    uid: str
    #: spec and the metadata a step reads (generation, the refresh request), nothing else.
    body: dict[str, Any]
    identity: str | None
    reconciler: BindingReconciler
    #: The generation the last step acted on.
    stepped: int | None = None


def _compact(body: Mapping[str, Any]) -> dict[str, Any]:
    metadata: Mapping[str, Any] = body.get("metadata") or {}
    request = (metadata.get("annotations") or {}).get(REFRESH_ANNOTATION)
    return {
        "spec": copy.deepcopy(dict(body.get("spec") or {})),
        "metadata": {
            "generation": metadata.get("generation"),
            "annotations": {REFRESH_ANNOTATION: request} if request else {},
        },
    }


class BindingFleet:
    def __init__(
        self,
        *,
        reconciler_for: ReconcilerFactory,
        workers: int,
        retry_seconds: float,
        prepare: Callable[[], Awaitable[None]],
        bindings_listed: Callable[[], Awaitable[None]],
        halt: Callable[[], Awaitable[None]],
    ) -> None:
        """``prepare`` starts the feeds and returns once the caches a step reads are filled;
        ``bindings_listed`` returns once every binding has been fed; ``halt`` stops the feeds."""
        self._reconciler_for = reconciler_for
        self._workers = workers
        self._retry = retry_seconds
        self._prepare = prepare
        self._bindings_listed = bindings_listed
        self._halt = halt
        self._bindings: dict[BindingKey, _Binding] = {}
        self._queue = DueQueue()
        self._tasks: list[asyncio.Task[None]] = []
        #: False until :meth:`start`, and while standing by.
        self._acting = False
        self._seeded = False
        self.on_membership_change: Callable[[], None] = lambda: None
        #: Set once a binding was stepped, or all were listed and there was none to step.
        self.under_way = asyncio.Event()

    def __len__(self) -> int:
        return len(self._bindings)

    # -- what the informers tell us ----------------------------------------------------------------

    def saw_binding(self, namespace: str, name: str, body: Mapping[str, Any]) -> None:
        if not self._acting:
            return
        key = (namespace, name)
        metadata: Mapping[str, Any] = body.get("metadata") or {}
        uid = str(metadata.get("uid") or "")
        known = self._bindings.get(key)
        if known is not None and known.uid != uid:  # deleted and re-created under the name
            self.forget_binding(namespace, name)
            known = None
        compact = _compact(body)
        identity = referenced_identity(body.get("spec") or {})
        if known is None:
            reconciler = self._reconciler_for(key, uid, body.get("status") or {})
            self._bindings[key] = _Binding(uid, compact, identity, reconciler)
            self._queue.schedule(key, delay=0)
            self.on_membership_change()
            return
        known.body = compact
        if known.identity != identity:
            known.identity = identity
            self.on_membership_change()
        request = compact["metadata"]["annotations"].get(REFRESH_ANNOTATION)
        if compact["metadata"]["generation"] != known.stepped or (
            request and request != known.reconciler.status.get(HANDLED_REFRESH_FIELD)
        ):
            self._queue.wake(key)

    def forget_binding(self, namespace: str, name: str) -> None:
        binding = self._bindings.pop((namespace, name), None)
        if binding is None:
            return
        self._queue.remove((namespace, name))
        binding.reconciler.forget()
        self.on_membership_change()

    def retain(self, covers: Callable[[str], bool], keys: Set[BindingKey]) -> None:
        """A LIST found ``keys`` in the namespaces it ``covers``: the others were deleted."""
        for namespace, name in [key for key in self._bindings if covers(key[0])]:
            if (namespace, name) not in keys:
                self.forget_binding(namespace, name)

    def identity_changed(self, identity: str) -> None:
        for key, binding in self._bindings.items():
            if binding.identity == identity:
                self._queue.wake(key)

    def wake(self, key: BindingKey) -> None:
        if key in self._bindings:
            self._queue.wake(key)

    def counts(self, ready: Callable[[BindingKey], bool]) -> dict[str, dict[str, int]]:
        """Per identity: how many bindings reference it, and how many of those are ``ready``."""
        counts: dict[str, dict[str, int]] = {}
        for key, binding in self._bindings.items():
            if binding.identity is not None:
                count = counts.setdefault(binding.identity, {"bindings": 0, "readyBindings": 0})
                count["bindings"] += 1
                count["readyBindings"] += ready(key)
        return counts

    # -- running ----------------------------------------------------------------------------------

    @property
    def acting(self) -> bool:
        return self._acting

    @property
    def seeded(self) -> bool:
        """Acting, and every listed binding is known: counts of bindings are whole."""
        return self._acting and self._seeded

    def start(self) -> None:
        self._acting = True
        self._tasks = [asyncio.get_running_loop().create_task(self._run())]

    async def stop(self) -> None:
        tasks, self._tasks = self._tasks, []
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        await self._halt()

    async def stand_by(self) -> None:
        """Another replica acts: stop stepping and forget every binding."""
        self._acting = False
        self._seeded = False
        await self.stop()
        for namespace, name in list(self._bindings):
            self.forget_binding(namespace, name)
        self._queue.clear()

    async def _run(self) -> None:
        await self._prepare()
        workers = [
            asyncio.get_running_loop().create_task(self._work()) for _ in range(self._workers)
        ]
        try:
            await self._bindings_listed()  # each worked on as soon as seen
            self._seeded = True
            if not self._bindings:
                self.under_way.set()
            self.on_membership_change()
            await asyncio.gather(*workers)
        finally:
            for worker in workers:
                worker.cancel()
            await asyncio.gather(*workers, return_exceptions=True)

    async def _work(self) -> None:
        while True:
            key = await self._queue.take()
            assert isinstance(key, tuple)
            binding = self._bindings.get(key)
            if binding is None:
                self._queue.done(key, delay=None)
                continue
            delay: float | None = self._retry
            try:
                binding.stepped = binding.body["metadata"]["generation"]
                delay = await binding.reconciler.step(binding.body)
            except asyncio.CancelledError:
                raise
            except Exception:  # a bug must not stop the other bindings
                log.exception("%s/%s: step failed unexpectedly; retrying in %ss", *key,
                              self._retry, extra=about(BINDING_KIND, key[1], key[0]))
            finally:
                held = binding.reconciler.held
                urgency = held.expires_at.timestamp() if held is not None else NO_TOKEN
                self._queue.done(key, delay=delay, urgency=urgency)
                self.under_way.set()
