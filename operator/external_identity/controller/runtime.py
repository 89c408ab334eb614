"""Everything the operator shares: the binding fleet, its informers and writers, and what kopf's
identity handlers use; built once at start, before kopf (see :mod:`.running`)."""

from __future__ import annotations

import asyncio
import logging
import random
from collections.abc import Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import datetime
from functools import partial
from typing import Any

from kubernetes import client

from external_identity.api.times import utcnow
from external_identity.controller.bindings.fleet import BindingFleet, BindingKey
from external_identity.controller.bindings.reconciler import BindingReconciler
from external_identity.controller.events import EventPoster
from external_identity.controller.identities.cache import IdentityCache
from external_identity.controller.identities.events import IdentityEvents
from external_identity.controller.identities.probe import IdentityProbe
from external_identity.controller.identities.status import IdentityStatuses
from external_identity.controller.metrics import Metrics
from external_identity.controller.rollouts import Rollouts
from external_identity.controller.settings import OperatorSettings
from external_identity.controller.statuses import StatusWriter
from external_identity.controller.watching.feeds import (
    BindingFeed,
    IdentityFeed,
    SecretFeed,
    SeenSecret,
)
from external_identity.controller.watching.informers import Informer
from external_identity.controller.watching.legacy import release
from external_identity.controller.watching.listing import Lister
from external_identity.controller.watching.peering import Peering, PeeringGate
from external_identity.exchange.pool import ExchangePool, credential_sources
from external_identity.kube.client import connect
from external_identity.secrets.cache import SecretCache
from external_identity.secrets.store import TokenSecrets
from external_identity.secrets.writer import SecretWriter

__all__ = ["Runtime", "build_runtime"]

log = logging.getLogger(__name__)


@dataclass
class Runtime:
    settings: OperatorSettings
    api: client.ApiClient
    pool: ExchangePool
    secrets: TokenSecrets
    secret_cache: SecretCache
    statuses: StatusWriter
    events: EventPoster
    metrics: Metrics
    identity_statuses: IdentityStatuses
    #: The pod's namespace, or the kubeconfig context's: kopf's default for its own Events.
    kube_namespace: str | None = None
    identities: IdentityCache = field(default_factory=IdentityCache)
    rng: random.Random = field(default_factory=random.Random)
    fleet: BindingFleet = field(init=False)
    probe: IdentityProbe = field(init=False)
    #: Restart on rotation (--restart-on-rotation); None when off.
    rollouts: Rollouts | None = field(init=False, default=None)
    identity_events: IdentityEvents = field(init=False)
    _gate: asyncio.Task[None] | None = None
    _identity_informer: Informer[dict[str, Any]] | None = None
    _secret_informer: Informer[SeenSecret] | None = None
    _binding_informer: Informer[dict[str, Any]] | None = None
    _probing: asyncio.Task[None] | None = None
    _closed: bool = False

    def __post_init__(self) -> None:
        self.fleet = BindingFleet(
            reconciler_for=self._reconciler_for,
            workers=self.settings.max_concurrent_exchanges,
            retry_seconds=self.settings.backoff_base_seconds,
            prepare=self._prepare,
            bindings_listed=self._bindings_listed,
            halt=self._halt,
        )
        self.fleet.on_membership_change = self.recount
        self.metrics.count_bindings(lambda: len(self.fleet))
        if self.settings.restart_on_rotation:
            self.rollouts = Rollouts(
                client.AppsV1Api(self.api), min_interval=self.settings.restart_min_interval_seconds,
                retry_seconds=self.settings.backoff_base_seconds,
                retry_cap_seconds=self.settings.backoff_cap_seconds, clock=self.clock,
                active=lambda: self.fleet.acting,
            )
        self.metrics.bindings.on_change = self.recount
        # Posted where identity status is kept: one operator, not every shard.
        self.identity_events = IdentityEvents(self.events, clock=self.clock,
                                              enabled=self.identity_statuses.enabled)
        self.probe = IdentityProbe(
            prove=self.pool.operator_proof, identities=self.identities, statuses=self.statuses,
            principals=self.identity_statuses.saw_principal, clock=self.clock,
            interval=self.settings.identity_probe_seconds,
        )

    def start(self, peering: Peering | None) -> None:
        """Step bindings now, or (with ``peering``) whenever no other replica outranks this
        one; probe identities where this operator writes their status."""
        self._start_probing()
        if peering is None:
            self.fleet.start()
        else:
            self._watch_peering(peering)

    def _start_probing(self) -> None:
        """Probe identities only where this operator writes their status (unsharded, all
        namespaces): others see another principal's view, or only part of the bindings."""
        if self.identity_statuses.enabled and self._probing is None:
            self._probing = asyncio.get_running_loop().create_task(self.probe.run())

    @property
    def custom_objects(self) -> client.CustomObjectsApi:
        return client.CustomObjectsApi(self.api)

    @staticmethod
    def clock() -> datetime:
        return utcnow()

    def recount(self) -> None:
        """Bindings or identities came or went: identity ``status.bindings`` is due a look.

        Not before the start-up LISTs are in: half-known counts would be written, then undone.
        """
        if not self.fleet.seeded:
            return
        self.identity_statuses.stale(
            counts=lambda: self.fleet.counts(self.metrics.bindings.is_ready),
            known=self.identities.names,
            written=self.identities.written_status(),
        )

    def _reconciler_for(
        self, key: BindingKey, uid: str, status: Mapping[str, Any]
    ) -> BindingReconciler:
        namespace, name = key

        def post_event(*, warning: bool, reason: str, message: str) -> None:
            self.events.post(namespace=namespace, name=name, uid=uid, warning=warning,
                             reason=reason, message=message, now=self.clock())

        return BindingReconciler(
            namespace=namespace, name=name, uid=uid, status=status,
            identities=self.identities.get, pool=self.pool, secrets=self.secrets,
            statuses=self.statuses, events=post_event, metrics=self.metrics.bindings,
            principals=self.identity_statuses.saw_principal, settings=self.settings,
            clock=self.clock, rng=self.rng,
            token_written=self.rollouts.token_written if self.rollouts is not None else None,
        )

    async def _prepare(self) -> None:
        """Follow identities; once they are listed, follow our Secrets and the bindings at once.
        Return when the Secrets are in (no binding is stepped before), while bindings may still
        be listing."""
        lister = self._lister
        self.identities.clear()
        self._identity_informer = Informer("ExternalIdentity", [lister.identities()], IdentityFeed(
            self.identities, changed=self._identity_changed, deleted=self._identity_deleted,
            recount=self.recount, seen=self.identity_events.seen,
        ))
        self._identity_informer.start()
        await self._identity_informer.synced.wait()
        self.secret_cache.clear()
        self._secret_informer = Informer(
            "Secret", lister.token_secrets(), SecretFeed(self.secret_cache, self.fleet.wake)
        )
        self._binding_informer = Informer(
            "ServiceAccountBinding", lister.bindings(),
            BindingFeed(self.fleet, partial(release, self.custom_objects)),
        )
        self._secret_informer.start()
        self._binding_informer.start()
        await self._secret_informer.synced.wait()
        log.info("Listed %d identities and %d token Secrets", len(self.identities.names()),
                 len(self.secret_cache))

    def _identity_changed(self, name: str) -> None:
        self.probe.changed(name)
        self.fleet.identity_changed(name)

    def _identity_deleted(self, name: str) -> None:
        self.identity_statuses.forget(name)
        self.probe.forget(name)
        self.fleet.identity_changed(name)

    async def _bindings_listed(self) -> None:
        informer = self._binding_informer
        if informer is not None:
            await informer.synced.wait()
        log.info("Listed %d bindings", len(self.fleet))

    async def _halt(self) -> None:
        informers = (self._binding_informer, self._secret_informer, self._identity_informer)
        self._binding_informer = self._secret_informer = self._identity_informer = None
        for informer in informers:
            if informer is not None:
                await informer.stop()

    @property
    def _lister(self) -> Lister:
        return Lister(
            self.custom_objects, client.CoreV1Api(self.api), self.settings.namespaces,
            self.settings.binding_selector,
        )

    def _watch_peering(self, peering: Peering) -> None:
        gate = PeeringGate(
            peering, self.custom_objects, namespaces=self.settings.namespaces,
            clock=self.clock, act=self.fleet.start, stand_by=self.fleet.stand_by,
        )
        self._gate = asyncio.get_running_loop().create_task(gate.run())

    async def close(self) -> None:
        """Stop everything and release connections; a second call does nothing."""
        if self._closed:
            return
        self._closed = True
        for task in (self._gate, self._probing):
            if task is not None:
                task.cancel()
                await asyncio.gather(task, return_exceptions=True)
        await self.fleet.stop()
        if self.rollouts is not None:
            await self.rollouts.close()
        await self.events.close()
        await self.identity_statuses.close()
        await self.pool.close()
        await asyncio.to_thread(self.api.close)


async def build_runtime(
    settings: OperatorSettings, *, kubeconfig: str | None = None, context: str | None = None
) -> Runtime:
    """Everything, reaching the cluster in-cluster or through the kubeconfig (``$KUBECONFIG``),
    or through ``kubeconfig`` and ``context`` when given."""
    loop = asyncio.get_running_loop()
    # Blocking Kubernetes client calls run in threads; size the pool to match its connections.
    loop.set_default_executor(
        ThreadPoolExecutor(max_workers=settings.kubernetes_threads, thread_name_prefix="kube")
    )
    # The informers hold a connection each for their watch: identities, then bindings and
    # Secrets per scope.
    watches = 1 + 2 * max(1, len(settings.namespaces))
    connection = await asyncio.to_thread(connect, kubeconfig, context,
                                         pool_size=settings.kubernetes_threads + watches)
    api = connection.api
    metrics = Metrics()
    if settings.metrics_port is not None:
        metrics.serve(settings.metrics_port)
    pool = ExchangePool(
        max_concurrent=settings.max_concurrent_exchanges,
        credential_sources=credential_sources(
            api, refreshed=lambda kind: metrics.credential_refreshes.labels(kind).inc()
        ),
        metrics=metrics,
    )
    statuses = StatusWriter(client.CustomObjectsApi(api))
    if settings.namespaces:
        log.info("Watching namespaces %s only: ExternalIdentity status.bindings and "
                 "status.principal are left to a cluster-wide operator",
                 ", ".join(settings.namespaces))
    if settings.binding_selector:
        log.info("Keeping bindings labelled %s only (one shard): ExternalIdentity "
                 "status.bindings and status.principal are left to an unsharded operator",
                 settings.binding_selector)
    secret_cache = SecretCache()
    return Runtime(
        settings=settings,
        api=api,
        pool=pool,
        secrets=TokenSecrets(
            SecretWriter(client.CoreV1Api(api)), secret_cache, metrics.secret_writes
        ),
        secret_cache=secret_cache,
        statuses=statuses,
        events=EventPoster(client.CoreV1Api(api)),
        metrics=metrics,
        identity_statuses=IdentityStatuses(
            statuses, enabled=not settings.namespaces and not settings.binding_selector
        ),
        kube_namespace=connection.namespace,
    )
