"""The fleet in-process, with real parts: the emulator, moto's STS and the Phase peer.

Bindings are kept from ``accept`` on, stepped from ``start`` on; counts per identity are
reported once the list is whole, and readiness is what each binding's reconciler decided.
"""

from __future__ import annotations

import asyncio

import pytest
from support.peers.phase_model import ServiceAccount

from tests.controller.conftest import Fleet, eventually
from tests.operator.harness import NAMESPACE, Cluster

pytestmark = pytest.mark.usefixtures("aws_env", "loopback_only")


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
    await eventually(lambda: fleet.fleet.ready_count() == 1, "the binding Ready")
    assert cluster.token() is not None


async def test_counts_are_reported_once_the_list_is_whole_with_readiness(
    cluster: Cluster, fleet: Fleet, account: ServiceAccount,
) -> None:
    fleet.fleet.accept()
    _seen(cluster, fleet, account)
    fleet.fleet.start()
    await eventually(cluster.token, "the token")
    await eventually(lambda: fleet.fleet.ready_count() == 1, "readiness")
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


async def test_expiry_and_ttl_series_say_what_each_secret_holds_from_start_before_any_step(
    cluster: Cluster, fleet: Fleet, account: ServiceAccount,
) -> None:
    fleet.fleet.accept()
    _seen(cluster, fleet, account)
    fleet.fleet.start()
    await eventually(lambda: fleet.fleet.ready_count() == 1, "the binding Ready")
    await fleet.fleet.stand_by()
    labels = {"namespace": NAMESPACE, "binding": "payments-api"}
    ttl = "external_identity_token_ttl_seconds"
    assert fleet.metrics.registry.get_sample_value(ttl, labels) is None

    cluster.phase.config.unavailable = True
    fleet.fleet.accept()
    fleet.fleet.saw_binding(NAMESPACE, "payments-api", cluster.binding())
    fleet.fleet.start()
    assert fleet.metrics.registry.get_sample_value(ttl, labels) == 600, "before any step"


async def test_a_secret_gone_from_under_its_binding_takes_its_series_at_once_until_rewritten(
    cluster: Cluster, fleet: Fleet, account: ServiceAccount,
) -> None:
    fleet.fleet.accept()
    _seen(cluster, fleet, account)
    fleet.fleet.start()
    labels = {"namespace": NAMESPACE, "binding": "payments-api"}
    ttl = "external_identity_token_ttl_seconds"
    await eventually(lambda: fleet.metrics.registry.get_sample_value(ttl, labels) == 600,
                     "the series")
    cluster.core.delete_namespaced_secret("phase-service-token", NAMESPACE)
    fleet.secret_cache.gone(NAMESPACE, "phase-service-token")  # as the Secret watch tells it
    fleet.fleet.wake((NAMESPACE, "payments-api"))
    assert fleet.metrics.registry.get_sample_value(ttl, labels) is None
    await eventually(lambda: fleet.metrics.registry.get_sample_value(ttl, labels) == 600,
                     "the series of the rewritten Secret")
    assert cluster.token() is not None
