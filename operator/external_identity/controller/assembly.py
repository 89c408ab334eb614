"""The operator, assembled from its parts in the order data flows through them.

:func:`assemble` builds, top to bottom: the Kubernetes client; the caches bindings decide with
(identities, the operator's own Secrets); the exchange pool (credentials → proof → token
service); the Secret store; status, events and metrics; identity status and its credential
probe; restart on rotation; the shard gate (which bindings this operator serves); the binding
fleet; and last the informers that feed the caches and
the fleet. :class:`Operator` then acts (lists, steps bindings) — at once, or whenever peering
says this replica is the one — and kopf (:mod:`.handlers`) is given it for identity status.
"""

from __future__ import annotations

import asyncio
import logging
import random
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import timedelta
from functools import partial

from kubernetes import client

from external_identity.api.times import Clock, utcnow
from external_identity.controller.bindings.fleet import BindingFleet
from external_identity.controller.bindings.reconciler import BindingParts
from external_identity.controller.events import EventPoster
from external_identity.controller.identities.cache import IdentityCache
from external_identity.controller.identities.events import IdentityEvents
from external_identity.controller.identities.probe import IdentityProbe
from external_identity.controller.identities.status import IdentityStatuses
from external_identity.controller.metrics import Metrics
from external_identity.controller.rollouts import Rollouts
from external_identity.controller.settings import OperatorSettings
from external_identity.controller.shards.gate import ShardGate
from external_identity.controller.statuses import StatusWriter
from external_identity.controller.watching.feeds import BindingFeed, IdentityFeed, SecretFeed
from external_identity.controller.watching.legacy import release
from external_identity.controller.watching.listing import Lister
from external_identity.controller.watching.peering import Peering, PeeringGate
from external_identity.controller.watching.watchers import Watchers
from external_identity.exchange.pool import ExchangePool, credential_sources
from external_identity.kube.client import KubeConnection, connect
from external_identity.secrets.cache import SecretCache
from external_identity.secrets.store import TokenSecrets
from external_identity.secrets.writer import SecretWriter

__all__ = ["Operator", "assemble"]

log = logging.getLogger(__name__)

#: An operator's entry on an identity is stale once this many heartbeats were missed.
STALE_BEATS = 3


@dataclass
class Operator:
    """Everything the running operator holds; what kopf's handlers reach through ``memo``."""

    settings: OperatorSettings
    api: client.ApiClient
    clock: Clock
    pool: ExchangePool
    events: EventPoster
    metrics: Metrics
    identity_statuses: IdentityStatuses
    probe: IdentityProbe
    #: Restart on rotation (``--restart-on-rotation``); None when off.
    rollouts: Rollouts | None
    fleet: BindingFleet
    watchers: Watchers
    #: The pod's namespace, or the kubeconfig context's: kopf's default for its own Events.
    kube_namespace: str | None = None
    _tasks: list[asyncio.Task[None]] = field(default_factory=list)
    #: Listing, then stepping: from :meth:`act` until it is done or :meth:`stand_by`.
    _listing: asyncio.Task[None] | None = None
    _serving_metrics: bool = False
    _closed: bool = False

    def start(self, peering: Peering | None) -> None:
        """Act now, or (with ``peering``) whenever no other replica outranks this one; probe
        identities where this operator writes their status."""
        loop = asyncio.get_running_loop()
        if _keeps_conditions(self.settings):
            self._tasks.append(loop.create_task(self.probe.run()))
        if peering is None:
            self.act()
        else:
            gate = PeeringGate(
                peering, client.CustomObjectsApi(self.api), namespaces=self.settings.namespaces,
                clock=self.clock, act=self.act, stand_by=self.stand_by,
            )
            self._tasks.append(loop.create_task(gate.run()))

    def act(self) -> None:
        self.fleet.accept()
        self._listing = asyncio.get_running_loop().create_task(self._list_then_step())

    async def _list_then_step(self) -> None:
        await self.watchers.start()
        # Registers on every identity; a binding is stepped only once its identity shows it.
        self.identity_statuses.start()
        self.fleet.start()
        await self.watchers.bindings_listed()
        log.info("Listed %d bindings", len(self.fleet))
        self.fleet.listed()
        self._serve_metrics()

    def _serve_metrics(self) -> None:
        """From when every binding is known (or this replica stands by): the first scrape has
        each binding's series, none is missing for a while after a restart."""
        port = self.settings.metrics_port
        if port is not None and not self._serving_metrics:
            self._serving_metrics = True
            self.metrics.serve(port)

    async def stand_by(self) -> None:
        """Another replica acts: stop listing and stepping, and forget every binding."""
        await self._stop_listing()
        await self.identity_statuses.stop()
        await self.fleet.stand_by()
        await self.watchers.stop()
        self._serve_metrics()

    async def _stop_listing(self) -> None:
        listing, self._listing = self._listing, None
        if listing is not None:
            listing.cancel()
            await asyncio.gather(listing, return_exceptions=True)

    async def close(self) -> None:
        """Stop everything and release connections; a second call does nothing."""
        if self._closed:
            return
        self._closed = True
        for task in self._tasks:
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        await self._stop_listing()
        await self.fleet.stop()
        await self.watchers.stop()
        if self.rollouts is not None:
            await self.rollouts.close()
        await self.events.close()
        await self.identity_statuses.close()
        await self.pool.close()
        await asyncio.to_thread(self.api.close)


async def assemble(
    settings: OperatorSettings,
    *,
    kubeconfig: str | None = None,
    context: str | None = None,
    clock: Clock = utcnow,
) -> Operator:
    """Build the operator; nothing is listed or stepped before :meth:`Operator.start`.

    It reaches the cluster in-cluster or through the kubeconfig (``$KUBECONFIG``), or through
    ``kubeconfig`` and ``context`` when given.
    """
    connection = await _connect(settings, kubeconfig, context)
    api = connection.api
    core, custom = client.CoreV1Api(api), client.CustomObjectsApi(api)
    identities, secret_cache = IdentityCache(), SecretCache()

    metrics = Metrics()
    pool = ExchangePool(
        max_concurrent=settings.max_concurrent_exchanges,
        credential_sources=credential_sources(
            api, refreshed=lambda kind: metrics.credential_refreshes.labels(kind).inc()
        ),
        metrics=metrics,
    )
    secrets = TokenSecrets(SecretWriter(core), secret_cache, metrics.secret_writes)
    statuses, events = StatusWriter(custom), EventPoster(core)

    identity_statuses = IdentityStatuses(
        statuses, identities=identities, me=settings.operator_name, scope=settings.scope,
        clock=clock, heartbeat_seconds=settings.heartbeat_seconds,
    )
    # Posted, and credentials probed, by one operator, not every shard.
    identity_events = IdentityEvents(events, clock=clock, enabled=_keeps_conditions(settings))
    probe = IdentityProbe(
        prove=pool.operator_proof, identities=identities, statuses=statuses,
        principals=identity_statuses.saw_principal, clock=clock,
        interval=settings.identity_probe_seconds,
    )

    rollouts = None
    if settings.restart_on_rotation:
        rollouts = Rollouts(
            client.AppsV1Api(api), min_interval=settings.restart_min_interval_seconds,
            retry_seconds=settings.backoff_base_seconds,
            retry_cap_seconds=settings.backoff_cap_seconds, clock=clock,
            active=lambda: fleet.acting,  # a standby replica restarts nothing
        )

    gate = ShardGate(
        me=settings.operator_name, identities=identities, clock=clock,
        stale_after=timedelta(seconds=STALE_BEATS * settings.heartbeat_seconds),
        registered=identity_statuses.registered,
        shape_changed=lambda name: fleet.identity_changed(name),
    )
    fleet = BindingFleet(
        parts=BindingParts(
            identities=identities.get, pool=pool, secrets=secrets, statuses=statuses,
            events=events, metrics=metrics.bindings, principals=identity_statuses.saw_principal,
            settings=settings, clock=clock, rng=random.Random(),
            token_written=rollouts.token_written if rollouts is not None else None,
        ),
        workers=settings.max_concurrent_exchanges,
        counts_changed=lambda counts: identity_statuses.stale(counts=counts),
        gate=gate,
    )
    metrics.count_bindings(kept=fleet.served_count, ready=fleet.ready_count)
    metrics.count_deferred(gate.deferred)

    def identity_changed(name: str) -> None:
        probe.changed(name)
        fleet.identity_changed(name)

    def entries_seen(name: str) -> None:
        identity_statuses.seen(name)  # first: the gate reads whether registration settled
        gate.seen(name)

    def identity_deleted(name: str) -> None:
        identity_statuses.forget(name)
        probe.forget(name)
        gate.seen(name)
        fleet.identity_changed(name)

    watchers = Watchers(
        lister=Lister(custom, core, settings.namespaces, settings.binding_selector),
        identities=(identities, IdentityFeed(
            identities, changed=identity_changed, deleted=identity_deleted,
            recount=fleet.recount, seen=identity_events.seen, entries_seen=entries_seen,
        )),
        secrets=(secret_cache, SecretFeed(secret_cache, fleet.wake)),
        bindings=BindingFeed(fleet, partial(release, custom)),
    )
    return Operator(
        settings=settings, api=api, clock=clock, pool=pool, events=events, metrics=metrics,
        identity_statuses=identity_statuses, probe=probe, rollouts=rollouts, fleet=fleet,
        watchers=watchers, kube_namespace=connection.namespace,
    )


async def _connect(
    settings: OperatorSettings, kubeconfig: str | None, context: str | None
) -> KubeConnection:
    loop = asyncio.get_running_loop()
    # Blocking Kubernetes client calls run in threads; size the pool to match its connections.
    loop.set_default_executor(
        ThreadPoolExecutor(max_workers=settings.kubernetes_threads, thread_name_prefix="kube")
    )
    # The informers hold a connection each for their watch: identities, then bindings and
    # Secrets per scope.
    watches = 1 + 2 * max(1, len(settings.namespaces))
    return await asyncio.to_thread(connect, kubeconfig, context,
                                   pool_size=settings.kubernetes_threads + watches)


def _keeps_conditions(settings: OperatorSettings) -> bool:
    """Only an operator that serves every binding probes credentials and posts identity Events:
    shards may run as other principals, and would repeat each other's Events."""
    return not settings.namespaces and not settings.binding_selector
