"""Everything the handlers share, built once at startup and kept in kopf's memo."""

from __future__ import annotations

import asyncio
import logging
import random
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import UTC, datetime

from kubernetes import client

from ..kubeclient import load_api_client
from ..secretwriter import SecretWriter
from .exchangers import ExchangePool, credential_sources
from .identities import IdentityStatuses
from .metrics import Metrics
from .settings import OperatorSettings
from .statuses import StatusWriter
from .wakeups import Wakeups

__all__ = ["Runtime", "build_runtime"]

log = logging.getLogger(__name__)


def utcnow() -> datetime:
    return datetime.now(UTC)


@dataclass
class Runtime:
    settings: OperatorSettings
    api: client.ApiClient
    pool: ExchangePool
    secrets: SecretWriter
    statuses: StatusWriter
    metrics: Metrics
    identity_statuses: IdentityStatuses
    wakeups: Wakeups = field(default_factory=Wakeups)
    #: The last generation of each identity seen, to tell spec changes from status writes.
    identity_generations: dict[str, int | None] = field(default_factory=dict)
    rng: random.Random = field(default_factory=random.Random)

    @staticmethod
    def clock() -> datetime:
        return utcnow()

    async def close(self) -> None:
        await self.identity_statuses.close()
        await self.pool.close()
        await asyncio.to_thread(self.api.close)


async def build_runtime(settings: OperatorSettings) -> Runtime:
    loop = asyncio.get_running_loop()
    # Blocking Kubernetes client calls run in threads; size the pool to match its connections.
    loop.set_default_executor(
        ThreadPoolExecutor(max_workers=settings.kubernetes_threads, thread_name_prefix="kube")
    )
    api = await asyncio.to_thread(load_api_client, pool_size=settings.kubernetes_threads)
    metrics = Metrics()
    if settings.metrics_port is not None:
        metrics.serve(settings.metrics_port)
    pool = ExchangePool(
        max_concurrent=settings.max_concurrent_exchanges,
        credential_sources=credential_sources(api),
        metrics=metrics,
    )
    statuses = StatusWriter(client.CustomObjectsApi(api))
    if settings.namespaces:
        log.info("Watching namespaces %s only: ExternalIdentity status.bindings and "
                 "status.principal are left to a cluster-wide operator",
                 ", ".join(settings.namespaces))
    return Runtime(
        settings=settings,
        api=api,
        pool=pool,
        secrets=SecretWriter(client.CoreV1Api(api)),
        statuses=statuses,
        metrics=metrics,
        identity_statuses=IdentityStatuses(statuses, enabled=not settings.namespaces),
    )
