"""Real parts for the binding tests: the emulator, moto's STS and the Phase peer, in-process."""

from __future__ import annotations

import asyncio
import random
from collections.abc import AsyncIterator, Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

import pytest

from external_identity.api.times import utcnow
from external_identity.controller.bindings.fleet import BindingFleet
from external_identity.controller.bindings.reconciler import BindingParts
from external_identity.controller.events import EventPoster
from external_identity.controller.metrics import Metrics
from external_identity.controller.settings import OperatorSettings
from external_identity.controller.statuses import StatusWriter
from external_identity.exchange.pool import ExchangePool, credential_sources
from external_identity.secrets.cache import SecretCache
from external_identity.secrets.store import TokenSecrets
from external_identity.secrets.writer import SecretWriter
from tests.operator.harness import Cluster

Counts = dict[str, dict[str, int]]


@dataclass
class Principals:
    """What the reconcilers said each identity proved."""

    seen: dict[str, str] = field(default_factory=dict)

    def __call__(self, identity: str, principal: str) -> None:
        self.seen[identity] = principal


@dataclass
class Recounts:
    """What the fleet told ``counts_changed``, read at the moment it was told."""

    seen: list[Counts] = field(default_factory=list)

    def __call__(self, counts: Callable[[], Counts]) -> None:
        self.seen.append(counts())


@dataclass
class Parts:
    """Every binding's shared parts, and what they let a test look at."""

    parts: BindingParts
    identities: dict[str, Mapping[str, Any]]
    metrics: Metrics
    principals: Principals
    secret_cache: SecretCache


@pytest.fixture
async def parts(cluster: Cluster) -> AsyncIterator[Parts]:
    api = cluster.kube.api_client()
    metrics = Metrics()
    pool = ExchangePool(max_concurrent=4, credential_sources=credential_sources(api),
                        metrics=metrics)
    identities: dict[str, Mapping[str, Any]] = {}
    principals = Principals()
    secret_cache = SecretCache()
    core, statuses = cluster.kube.core_v1(), StatusWriter(cluster.kube.custom_objects())
    shared = BindingParts(
        identities=identities.get, pool=pool,
        secrets=TokenSecrets(SecretWriter(core), secret_cache, metrics.secret_writes),
        statuses=statuses, events=EventPoster(core), metrics=metrics.bindings,
        principals=principals, settings=OperatorSettings(), clock=utcnow,
        rng=random.Random(0),
    )
    yield Parts(shared, identities, metrics, principals, secret_cache)
    await shared.events.close()
    await pool.close()


@dataclass
class Fleet:
    fleet: BindingFleet
    recounts: Recounts
    identities: dict[str, Mapping[str, Any]]
    metrics: Metrics
    secret_cache: SecretCache


@pytest.fixture
async def fleet(parts: Parts) -> AsyncIterator[Fleet]:
    recounts = Recounts()
    fleet = BindingFleet(parts=parts.parts, workers=2, counts_changed=recounts)
    yield Fleet(fleet, recounts, parts.identities, parts.metrics, parts.secret_cache)
    await fleet.stop()


async def eventually(condition: Callable[[], Any], what: str, seconds: float = 60) -> Any:
    async with asyncio.timeout(seconds):
        while not (result := condition()):  # noqa: ASYNC110 - the API has no event to await
            await asyncio.sleep(0.05)
    assert result, what
    return result
