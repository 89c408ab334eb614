"""TokenSecrets against the emulated Kubernetes API: reads come from the cache, writes go through
the writer and update the cache from the API's reply, and every write is counted."""

from __future__ import annotations

import dataclasses

import pytest
from prometheus_client import CollectorRegistry, Counter
from support.kube.fixtures import KubeAPI

from external_identity.errors import SecretConflict, SecretWriteError
from external_identity.secrets.cache import SecretCache, cached_secret
from external_identity.secrets.data import OwnerReference, SecretTarget
from external_identity.secrets.store import TokenSecrets
from external_identity.secrets.writer import SecretWriter
from tests.secrets.writer.samples import NAMESPACE, SECRETS, b64, issued

UID = "5b0c6a9e-0000-4000-8000-000000000001"


@pytest.fixture
def target(kube_api: KubeAPI) -> SecretTarget:
    kube_api.ensure_namespace(NAMESPACE)
    return SecretTarget(
        namespace=NAMESPACE, name="phase-service-token", owner_key=UID, identity="prod-aws",
        owner=OwnerReference(api_version="externalidentity.dev/v1alpha1",
                             kind="ServiceAccountBinding", name="payments-api", uid=UID),
    )


@pytest.fixture
def cache() -> SecretCache:
    return SecretCache()


@pytest.fixture
def registry() -> CollectorRegistry:
    return CollectorRegistry()


@pytest.fixture
def secrets(kube_api: KubeAPI, cache: SecretCache, registry: CollectorRegistry) -> TokenSecrets:
    writes = Counter("secret_writes", "Secret writes.", ["operation", "result"], registry=registry)
    return TokenSecrets(SecretWriter(kube_api.core_v1()), cache, writes)


def counted(registry: CollectorRegistry, operation: str, result: str) -> float:
    value = registry.get_sample_value(
        "secret_writes_total", {"operation": operation, "result": result})
    return value or 0.0


def secret_requests(kube_api: KubeAPI) -> list[tuple[str, int]]:
    return [(call.verb, call.status) for call in kube_api.calls() if call.resource == "secrets"]


async def test_reading_asks_the_cache_not_the_api(
    kube_api: KubeAPI, secrets: TokenSecrets, target: SecretTarget
) -> None:
    await secrets.write(target, issued(), known=None)
    kube_api.clear_calls()

    stored = secrets.cached(target)

    assert stored is not None and stored.data_intact
    assert secret_requests(kube_api) == []


async def test_a_secret_nobody_wrote_reads_as_absent(
    secrets: TokenSecrets, target: SecretTarget
) -> None:
    assert secrets.cached(target) is None


async def test_a_write_creates_the_secret_counts_it_and_the_cache_sees_the_api_version(
    kube_api: KubeAPI, secrets: TokenSecrets, target: SecretTarget, registry: CollectorRegistry
) -> None:
    await secrets.write(target, issued(), known=None)

    secret = kube_api.get(SECRETS, target.namespace, target.name)
    stored = secrets.cached(target)
    assert secret is not None and stored is not None
    assert secret["data"] == {"token": b64(issued().token)}
    assert stored.resource_version == secret["metadata"]["resourceVersion"]
    assert stored.expires_at == issued().expires_at.replace(microsecond=0)
    assert counted(registry, "create", "ok") == 1
    assert secret_requests(kube_api) == [("create", 201)]


async def test_a_write_over_what_was_read_is_a_replace_without_a_read_of_its_own(
    kube_api: KubeAPI, secrets: TokenSecrets, target: SecretTarget, registry: CollectorRegistry
) -> None:
    await secrets.write(target, issued("pss_service:v2:first"), known=None)
    known = secrets.cached(target)
    kube_api.clear_calls()

    await secrets.write(target, issued("pss_service:v2:second", ttl=600), known=known)

    secret = kube_api.get(SECRETS, target.namespace, target.name)
    stored = secrets.cached(target)
    assert secret is not None and stored is not None and known is not None
    assert secret["data"] == {"token": b64("pss_service:v2:second")}
    assert int(stored.resource_version) > int(known.resource_version)
    assert stored.resource_version == secret["metadata"]["resourceVersion"]
    assert secret_requests(kube_api) == [("update", 200)]
    assert (counted(registry, "create", "ok"), counted(registry, "replace", "ok")) == (1, 1)


async def test_a_late_watch_event_does_not_roll_the_cache_back_after_a_write(
    kube_api: KubeAPI, secrets: TokenSecrets, cache: SecretCache, target: SecretTarget
) -> None:
    await secrets.write(target, issued("pss_service:v2:first"), known=None)
    first = kube_api.get(SECRETS, target.namespace, target.name)
    await secrets.write(target, issued("pss_service:v2:second"), known=secrets.cached(target))
    assert first is not None

    assert cache.saw(target.namespace, target.name, cached_secret(first)) is False

    stored = secrets.cached(target)
    assert stored is not None and stored.resource_version != first["metadata"]["resourceVersion"]


async def test_a_refused_write_is_counted_as_an_error_and_leaves_the_cache_alone(
    kube_api: KubeAPI, secrets: TokenSecrets, cache: SecretCache, target: SecretTarget,
    registry: CollectorRegistry,
) -> None:
    kube_api.create({"apiVersion": "v1", "kind": "Secret",
                     "metadata": {"name": target.name, "namespace": target.namespace}})

    with pytest.raises(SecretConflict):
        await secrets.write(target, issued(), known=None)

    assert len(cache) == 0
    assert (counted(registry, "create", "error"), counted(registry, "create", "ok")) == (1, 0)


async def test_a_failed_replace_is_counted_as_a_replace_error(
    kube_api: KubeAPI, secrets: TokenSecrets, target: SecretTarget, registry: CollectorRegistry
) -> None:
    await secrets.write(target, issued(), known=None)
    known = secrets.cached(target)
    kube_api.refuse(f"put /api/v1/namespaces/{target.namespace}/secrets/{target.name}",
                    500, "InternalError", "etcdserver: request timed out")

    with pytest.raises(SecretWriteError):
        await secrets.write(target, issued(), known=known)

    assert counted(registry, "replace", "error") == 1
    assert secrets.cached(target) == known


async def test_deleting_our_secret_counts_it_and_forgets_it(
    kube_api: KubeAPI, secrets: TokenSecrets, target: SecretTarget, registry: CollectorRegistry
) -> None:
    await secrets.write(target, issued(), known=None)

    assert await secrets.delete(target) is True

    assert kube_api.get(SECRETS, target.namespace, target.name) is None
    assert secrets.cached(target) is None
    assert counted(registry, "delete", "ok") == 1


async def test_deleting_a_secret_that_is_already_gone_counts_nothing_and_forgets_it(
    kube_api: KubeAPI, secrets: TokenSecrets, target: SecretTarget, registry: CollectorRegistry
) -> None:
    await secrets.write(target, issued(), known=None)
    kube_api.delete(SECRETS, target.namespace, target.name)  # the watch has not told us yet

    assert await secrets.delete(target) is False

    assert secrets.cached(target) is None
    assert (counted(registry, "delete", "ok"), counted(registry, "delete", "error")) == (0, 0)


async def test_a_refused_delete_is_counted_as_an_error(
    kube_api: KubeAPI, secrets: TokenSecrets, target: SecretTarget, registry: CollectorRegistry
) -> None:
    await secrets.write(target, issued(), known=None)
    kube_api.refuse(f"delete /api/v1/namespaces/{target.namespace}/secrets/{target.name}",
                    403, "Forbidden", "secrets is forbidden")

    with pytest.raises(SecretWriteError, match="403 Forbidden"):
        await secrets.delete(target)

    assert counted(registry, "delete", "error") == 1
    assert kube_api.get(SECRETS, target.namespace, target.name) is not None
    assert secrets.cached(target) is not None


async def test_someone_elses_secret_is_not_deleted_and_not_counted(
    kube_api: KubeAPI, secrets: TokenSecrets, target: SecretTarget, registry: CollectorRegistry
) -> None:
    other = dataclasses.replace(target, owner_key="another-binding", owner=None)
    await TokenSecrets(SecretWriter(kube_api.core_v1()), SecretCache(),
                       Counter("other_writes", "x", ["operation", "result"],
                               registry=CollectorRegistry())).write(other, issued(), known=None)

    with pytest.raises(SecretConflict):
        await secrets.delete(target)

    assert kube_api.get(SECRETS, target.namespace, target.name) is not None
    assert counted(registry, "delete", "ok") == 0
