"""The informers start in the order a step needs: identities, then Secrets (bindings meanwhile)."""

from __future__ import annotations

from functools import partial

import pytest
from support.peers.phase_model import ServiceAccount

from external_identity.controller.identities.cache import IdentityCache
from external_identity.controller.watching.feeds import BindingFeed, IdentityFeed, SecretFeed
from external_identity.controller.watching.legacy import release
from external_identity.controller.watching.listing import Lister
from external_identity.controller.watching.watchers import Watchers
from external_identity.secrets.cache import SecretCache
from tests.controller.conftest import Fleet, eventually
from tests.operator.harness import NAMESPACE, Cluster

pytestmark = pytest.mark.usefixtures("aws_env", "loopback_only")


def watchers(cluster: Cluster, fleet: Fleet) -> tuple[Watchers, IdentityCache, SecretCache]:
    identities, secrets = IdentityCache(), SecretCache()
    custom = cluster.kube.custom_objects()
    return Watchers(
        lister=Lister(custom, cluster.kube.core_v1(), (), None),
        identities=(identities, IdentityFeed(identities, changed=lambda name: None,
                                             deleted=lambda name: None, recount=lambda: None)),
        secrets=(secrets, SecretFeed(secrets, fleet.fleet.wake)),
        bindings=BindingFeed(fleet.fleet, partial(release, custom)),
    ), identities, secrets


async def test_start_returns_with_identities_and_secrets_listed_and_bindings_follow(
    cluster: Cluster, fleet: Fleet, account: ServiceAccount,
) -> None:
    cluster.apply_identity()
    cluster.apply_binding(account.id, ttl=600)
    cluster.core.create_namespaced_secret(NAMESPACE, {
        "metadata": {"name": "old-token", "labels": {
            "app.kubernetes.io/managed-by": "external-identity-operator"}}})
    started, identities, secrets = watchers(cluster, fleet)
    fleet.fleet.accept()
    try:
        await started.start()
        assert identities.names() == {"local-aws"}
        assert len(secrets) == 1
        await started.bindings_listed()
        assert len(fleet.fleet) == 1
        cluster.apply_identity("second")
        await eventually(lambda: "second" in identities.names(), "a watched identity")
    finally:
        await started.stop()


async def test_a_restart_lists_afresh_from_empty_caches(cluster: Cluster, fleet: Fleet) -> None:
    cluster.apply_identity()
    started, identities, _ = watchers(cluster, fleet)
    await started.start()
    await started.stop()
    cluster.custom.delete_cluster_custom_object(
        "externalidentity.dev", "v1alpha1", "externalidentities", "local-aws")
    await started.start()
    try:
        assert identities.names() == set()
    finally:
        await started.stop()
