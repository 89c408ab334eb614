"""The operator assembled in-process from its parts, against the emulator and the peers: it lists
identities and Secrets before it steps, issues, counts, and closes cleanly."""

from __future__ import annotations

import pytest
from support.peers.phase_model import ServiceAccount

from external_identity.controller.assembly import assemble
from external_identity.controller.settings import OperatorSettings
from tests.controller.conftest import eventually
from tests.operator.harness import Cluster

pytestmark = pytest.mark.usefixtures("aws_env", "loopback_only")


async def test_an_assembled_operator_issues_counts_and_closes(
    cluster: Cluster, account: ServiceAccount,
) -> None:
    cluster.apply_identity()
    cluster.apply_binding(account.id, ttl=600)
    operator = await assemble(OperatorSettings(),
                              kubeconfig=str(cluster.kube.kubeconfig_path))
    try:
        assert len(operator.fleet) == 0, "nothing is listed before start"
        operator.start(None)
        ready = {"local-aws": {"bindings": 1, "readyBindings": 1}}
        await eventually(lambda: operator.fleet.seeded and operator.fleet.counts() == ready,
                         "the binding counted Ready")
        assert cluster.token() is not None
        await eventually(lambda: (cluster.custom.get_cluster_custom_object(
            "externalidentity.dev", "v1alpha1", "externalidentities", "local-aws",
        ).get("status") or {}).get("readyBindings") == 1, "the identity's count")
    finally:
        await operator.close()
        await operator.close()  # a second close does nothing
    assert operator.fleet.under_way.is_set()


async def test_a_sharded_operator_registers_its_own_entry_on_every_identity(
    cluster: Cluster,
) -> None:
    cluster.apply_identity()
    operator = await assemble(
        OperatorSettings(binding_selector="shard=a", operator_name="ops/shard-a"),
        kubeconfig=str(cluster.kube.kubeconfig_path),
    )
    try:
        operator.start(None)
        await eventually(lambda: "ops/shard-a" in (((cluster.custom.get_cluster_custom_object(
            "externalidentity.dev", "v1alpha1", "externalidentities", "local-aws",
        ).get("status") or {}).get("operators")) or {}), "its entry")
    finally:
        await operator.close()


async def test_standing_by_while_listing_stops_the_listing_and_acting_again_lists_afresh(
    cluster: Cluster, account: ServiceAccount,
) -> None:
    cluster.apply_identity()
    operator = await assemble(OperatorSettings(),
                              kubeconfig=str(cluster.kube.kubeconfig_path))
    try:
        operator.act()
        await operator.stand_by()  # at once: the listing is still under way
        cluster.apply_binding(account.id, ttl=600)
        assert len(operator.fleet) == 0 and not operator.fleet.acting
        operator.act()
        await eventually(cluster.token, "the token after acting again")
        await eventually(lambda: operator.fleet.seeded, "the whole list")
        assert len(operator.fleet) == 1
    finally:
        await operator.close()
