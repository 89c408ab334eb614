"""Every binding this operator keeps: what it knows of each, and the workers that step them.

The informers (:mod:`..watching.feeds`) tell the fleet what changed
(:meth:`BindingFleet.saw_binding`, :meth:`forget_binding`, :meth:`retain`,
:meth:`identity_changed`); a fixed number of workers take due bindings from one
:class:`.duequeue.DueQueue` and run their reconciler's step. The fleet keeps bindings from
:meth:`accept` on, and steps them once :meth:`start` is called — which the operator
(:mod:`..assembly`) does only after the identities and its own Secrets are listed, so no
binding decides on an empty cache (and revokes, or re-mints, what it should not). Bindings are
listed meanwhile, a page at a time, and each is worked on as soon as it is seen: the first
exchanges wait neither for the whole list nor for anything else. :meth:`listed` says the list
is whole, from when on the counts per identity are right.

Where several operators' scopes overlap, a :class:`..shards.gate.ShardGate` says before each
step whether this one serves the binding; one it leaves to another is not stepped (and not
counted) until that operator stops.

A replica that stands by (:meth:`stand_by`, see :mod:`..watching.peering`) forgets everything
and steps nothing; when it acts again it starts over from fresh LISTs, as a restarted operator
would, so it never writes a token older than the one the other replica left.
"""

from __future__ import annotations

import asyncio
import copy
import logging
from collections.abc import Callable, Mapping, Set
from dataclasses import dataclass
from typing import Any

from external_identity.api.resources import BINDING_KIND
from external_identity.api.specs import referenced_identity
from external_identity.controller.bindings.duequeue import NO_TOKEN, DueQueue
from external_identity.controller.bindings.reconciler import BindingParts, BindingReconciler
from external_identity.controller.decide.plans import HANDLED_REFRESH_FIELD, REFRESH_ANNOTATION
from external_identity.controller.shards.gate import SERVE, ShardGate, Verdict
from external_identity.logrefs import about

__all__ = ["BindingFleet", "BindingKey"]

BindingKey = tuple[str, str]  # (namespace, name)

log = logging.getLogger(__name__)

@dataclass
class _Binding:
    uid: str
    #: spec and the metadata a step reads (generation, the refresh request), nothing else.
    body: dict[str, Any]
    identity: str | None
    reconciler: BindingReconciler
    #: The generation the last step acted on.
    stepped: int | None = None
    #: Left to another operator (see :class:`..shards.gate.ShardGate`).
    deferred: bool = False


def _compact(body: Mapping[str, Any]) -> dict[str, Any]:
    metadata: Mapping[str, Any] = body.get("metadata") or {}
    request = (metadata.get("annotations") or {}).get(REFRESH_ANNOTATION)
    return {
        "spec": copy.deepcopy(dict(body.get("spec") or {})),
        "metadata": {
            "generation": metadata.get("generation"),
            "labels": dict(metadata.get("labels") or {}),
            "annotations": {REFRESH_ANNOTATION: request} if request else {},
        },
    }


class BindingFleet:
    def __init__(
        self,
        *,
        parts: BindingParts,
        workers: int,
        counts_changed: Callable[[Callable[[], dict[str, dict[str, int]]]], None],
        gate: ShardGate | None = None,
    ) -> None:
        """``counts_changed`` is told, with :meth:`counts`, whenever bindings come or go or
        one's readiness flips, once the list is whole. ``gate`` says which bindings to serve
        (None: all)."""
        self._parts = parts
        self._gate = gate
        self._workers = workers
        self._retry = parts.settings.backoff_base_seconds
        self._counts_changed = counts_changed
        self._bindings: dict[BindingKey, _Binding] = {}
        self._queue = DueQueue()
        self._tasks: list[asyncio.Task[None]] = []
        #: False until :meth:`accept`, and while standing by.
        self._acting = False
        self._seeded = False
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
            reconciler = BindingReconciler(
                namespace=namespace, name=name, uid=uid, status=body.get("status") or {},
                parts=self._parts, readiness_changed=self.recount,
            )
            self._bindings[key] = _Binding(uid, compact, identity, reconciler)
            if self._tasks:  # the Secrets are listed: its series say what its Secret holds
                reconciler.show_secret(compact["spec"])
            self._queue.schedule(key, delay=0)
            self.recount()
            return
        if known.identity != identity:
            known.identity = identity
            self.recount()
        request = compact["metadata"]["annotations"].get(REFRESH_ANNOTATION)
        relabelled = compact["metadata"]["labels"] != known.body["metadata"]["labels"]
        known.body = compact
        if relabelled or compact["metadata"]["generation"] != known.stepped or (
            request and request != known.reconciler.status.get(HANDLED_REFRESH_FIELD)
        ):
            self._queue.wake(key)

    def forget_binding(self, namespace: str, name: str) -> None:
        binding = self._bindings.pop((namespace, name), None)
        if binding is None:
            return
        self._queue.remove((namespace, name))
        if self._gate is not None:
            self._gate.forget((namespace, name))
        binding.reconciler.forget()
        self.recount()

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
        """The binding's Secret changed under it (deleted, edited): series and a step now."""
        binding = self._bindings.get(key)
        if binding is not None:
            binding.reconciler.show_secret(binding.body["spec"])
            self._queue.wake(key)

    def counts(self) -> dict[str, dict[str, int]]:
        """Per identity: how many bindings referencing it this operator serves, and how many
        of those are Ready."""
        counts: dict[str, dict[str, int]] = {}
        for binding in self._bindings.values():
            if binding.identity is not None and not binding.deferred:
                count = counts.setdefault(binding.identity, {"bindings": 0, "readyBindings": 0})
                count["bindings"] += 1
                count["readyBindings"] += binding.reconciler.ready
        return counts

    def served_count(self) -> int:
        """Bindings kept and not left to another operator."""
        return sum(not binding.deferred for binding in self._bindings.values())

    def ready_count(self) -> int:
        return sum(binding.reconciler.ready for binding in self._bindings.values())

    def recount(self) -> None:
        """Not before the list is whole: half-known counts would be written, then undone."""
        if self.seeded:
            self._counts_changed(self.counts)

    # -- running ----------------------------------------------------------------------------------

    @property
    def acting(self) -> bool:
        return self._acting

    @property
    def seeded(self) -> bool:
        """Acting, and every listed binding is known: counts of bindings are whole."""
        return self._acting and self._seeded

    def accept(self) -> None:
        """Keep the bindings the informers report from now on (not stepped before :meth:`start`)."""
        self._acting = True

    def start(self) -> None:
        """Step bindings as they fall due: the caches a step reads are filled. Each binding's
        expiry and TTL series say what its Secret holds from now on, before its first step."""
        loop = asyncio.get_running_loop()
        self._tasks = [loop.create_task(self._work()) for _ in range(self._workers)]
        for binding in self._bindings.values():
            binding.reconciler.show_secret(binding.body["spec"])

    def listed(self) -> None:
        """Every binding has been reported once: the counts per identity are whole."""
        self._seeded = True
        if not self._bindings:
            self.under_way.set()
        self.recount()

    async def stop(self) -> None:
        tasks, self._tasks = self._tasks, []
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)

    async def stand_by(self) -> None:
        """Another replica acts: stop stepping and forget every binding."""
        self._acting = False
        self._seeded = False
        await self.stop()
        for namespace, name in list(self._bindings):
            self.forget_binding(namespace, name)
        self._queue.clear()

    async def _work(self) -> None:
        while True:
            key = await self._queue.take()
            assert isinstance(key, tuple)
            binding = self._bindings.get(key)
            if binding is None:
                self._queue.done(key, delay=None)
                continue
            delay: float | None = self._retry
            registering = False  # the gate waits for this operator's entry: nothing decided
            try:
                binding.stepped = binding.body["metadata"]["generation"]
                verdict = self._verdict(key, binding)
                registering = verdict.wait is not None and verdict.deferred_to is None
                if verdict.wait is None:
                    delay = await binding.reconciler.step(binding.body)
                else:
                    delay = verdict.wait
            except asyncio.CancelledError:
                raise
            except Exception:  # a bug must not stop the other bindings
                log.exception("%s/%s: step failed unexpectedly; retrying in %ss", *key,
                              self._retry, extra=about(BINDING_KIND, key[1], key[0]))
            finally:
                held = binding.reconciler.held
                urgency = held.expires_at.timestamp() if held is not None else NO_TOKEN
                self._queue.done(key, delay=delay, urgency=urgency)
                if not registering:
                    self.under_way.set()

    def _verdict(self, key: BindingKey, binding: _Binding) -> Verdict:
        """Whether this operator serves the binding now, or waits (for its own entry on the
        identity, or because it defers to another operator); one it served until now and
        defers is let go: no token held, no series, not counted."""
        if self._gate is None:
            return SERVE
        verdict = self._gate.verdict(key, binding.identity, binding.body["metadata"]["labels"])
        deferred = verdict.deferred_to is not None
        if (verdict.wait is None or deferred) and deferred != binding.deferred:
            binding.deferred = deferred
            if deferred:
                binding.reconciler.forget()
            self.recount()
        return verdict
