"""The fleet in-process, with real parts: the emulator, moto's STS and the Phase peer.

Bindings are kept from ``accept`` on, stepped from ``start`` on; counts per identity are
reported once the list is whole, and readiness is what each binding's reconciler decided.
"""

from __future__ import annotations

import asyncio
import random
from collections.abc import AsyncIterator, Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

import pytest
from support.peers.phase_model import ServiceAccount

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
from tests.operator.harness import NAMESPACE, Cluster

pytestmark = pytest.mark.usefixtures("aws_env", "loopback_only")

Counts = dict[str, dict[str, int]]


@dataclass
class Recounts:
    """What the fleet told ``counts_changed``, read at the moment it was told."""

    seen: list[Counts] = field(default_factory=list)

    def __call__(self, counts: Callable[[], Counts]) -> None:
        self.seen.append(counts())


@dataclass
class Fleet:
    fleet: BindingFleet
    recounts: Recounts
    identities: dict[str, Mapping[str, Any]]
    metrics: Metrics


@pytest.fixture
async def fleet(cluster: Cluster) -> AsyncIterator[Fleet]:
    api = cluster.kube.api_client()
    metrics = Metrics()
    pool = ExchangePool(max_concurrent=4, credential_sources=credential_sources(api),
                        metrics=metrics)
    identities: dict[str, Mapping[str, Any]] = {}
    recounts = Recounts()
    core, statuses = cluster.kube.core_v1(), StatusWriter(cluster.kube.custom_objects())
    parts = BindingParts(
        identities=identities.get, pool=pool,
        secrets=TokenSecrets(SecretWriter(core), SecretCache(), metrics.secret_writes),
        statuses=statuses, events=EventPoster(core), metrics=metrics.bindings,
        principals=lambda identity, principal: None, settings=OperatorSettings(),
        clock=utcnow, rng=random.Random(0),
    )
    fleet = BindingFleet(parts=parts, workers=2, counts_changed=recounts)
    yield Fleet(fleet, recounts, identities, metrics)
    await fleet.stop()
    await parts.events.close()
    await pool.close()


async def _eventually(condition: Callable[[], Any], what: str, seconds: float = 20) -> Any:
    async with asyncio.timeout(seconds):
        while not (result := condition()):  # noqa: ASYNC110 - the API has no event to await
            await asyncio.sleep(0.05)
    assert result, what
    return result


def _seen(cluster: Cluster, fleet: Fleet, account: ServiceAccount) -> None:
    identity = cluster.apply_identity()
    fleet.identities["local-aws"] = identity
    binding = cluster.apply_binding(account.id, ttl=600)
    fleet.fleet.saw_binding(NAMESPACE, "payments-api", binding)


async def test_a_binding_is_kept_from_accept_and_stepped_only_from_start(
    cluster: Cluster, fleet: Fleet, account: ServiceAccount,
) -> None:
    _seen(cluster, fleet, account)
    assert len(fleet.fleet) == 0, "a fleet that has not accepted keeps nothing"
    fleet.fleet.accept()
    _seen_again = cluster.binding()
    fleet.fleet.saw_binding(NAMESPACE, "payments-api", _seen_again)
    assert len(fleet.fleet) == 1
    await asyncio.sleep(0)
    assert cluster.secret() is None, "nothing is stepped before start"
    fleet.fleet.start()
    await _eventually(cluster.token, "the token")
    assert fleet.fleet.ready_count() == 1


async def test_counts_are_reported_once_the_list_is_whole_with_readiness(
    cluster: Cluster, fleet: Fleet, account: ServiceAccount,
) -> None:
    fleet.fleet.accept()
    _seen(cluster, fleet, account)
    fleet.fleet.start()
    await _eventually(cluster.token, "the token")
    await _eventually(lambda: fleet.fleet.ready_count() == 1, "readiness")
    assert fleet.recounts.seen == [], "no counts before the list is whole"
    fleet.fleet.listed()
    assert fleet.recounts.seen[-1] == {"local-aws": {"bindings": 1, "readyBindings": 1}}
    fleet.fleet.forget_binding(NAMESPACE, "payments-api")
    assert fleet.recounts.seen[-1] == {}
    assert fleet.fleet.ready_count() == 0


async def test_standing_by_forgets_every_binding_and_steps_nothing(
    cluster: Cluster, fleet: Fleet, account: ServiceAccount,
) -> None:
    fleet.fleet.accept()
    _seen(cluster, fleet, account)
    fleet.fleet.listed()
    await fleet.fleet.stand_by()
    assert (len(fleet.fleet), fleet.fleet.acting, fleet.fleet.seeded) == (0, False, False)
    fleet.fleet.saw_binding(NAMESPACE, "payments-api", cluster.binding())
    assert len(fleet.fleet) == 0


async def test_under_way_is_set_at_once_when_the_list_holds_no_binding(fleet: Fleet) -> None:
    fleet.fleet.accept()
    assert not fleet.fleet.under_way.is_set()
    fleet.fleet.listed()
    assert fleet.fleet.under_way.is_set()
