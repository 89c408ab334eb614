"""What the informers' events mean: identities and Secrets to their caches, bindings to the fleet.

No I/O: the caches are the real ones; the fleet, the legacy release and the callbacks are
recorders passed in.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Mapping, Set
from typing import Any, cast

import pytest
from kubernetes import client

from external_identity.controller.bindings.fleet import BindingFleet
from external_identity.controller.identities.cache import IdentityCache
from external_identity.controller.watching.feeds import (
    BindingFeed,
    IdentityFeed,
    SecretFeed,
    without_managed_fields,
)
from external_identity.controller.watching.legacy import LEGACY_FINALIZER
from external_identity.controller.watching.listing import Lister, Scope
from external_identity.secrets.cache import SecretCache
from external_identity.secrets.data import CHECKSUM_ANNOTATION, MANAGED_BY_LABEL, data_checksum

NAMESPACE = "payments"
DATA = {"token": "cGhhc2U="}


def scope(*namespaces: str) -> Scope:
    """The first binding scope for these ``--namespace`` values (never asked anything here)."""
    api = client.ApiClient()
    return Lister(client.CustomObjectsApi(api), client.CoreV1Api(api), namespaces).bindings()[0]


# -- identities ------------------------------------------------------------------------------------


class IdentityRecorder:
    def __init__(self) -> None:
        self.cache = IdentityCache()
        self.changed: list[str] = []
        self.deleted: list[str] = []
        self.versions: list[tuple[int, Any]] = []
        self.recounts = 0
        self.feed = IdentityFeed(self.cache, changed=self.changed.append,
                                 deleted=self.deleted.append, recount=self.recount,
                                 seen=self.seen)

    def recount(self) -> None:
        self.recounts += 1

    def seen(self, body: Mapping[str, Any], before: Mapping[str, Any] | None) -> None:
        self.versions.append((body["metadata"]["generation"], before))


def identity(name: str, generation: int = 1) -> dict[str, Any]:
    return {"metadata": {"name": name, "generation": generation,
                         "managedFields": [{"manager": "kubectl"}]},
            "spec": {"provider": "aws-iam"}, "status": {"bindings": 1}}


def test_an_object_is_kept_without_its_managed_fields() -> None:
    trimmed = without_managed_fields(identity("prod-aws"))
    assert trimmed == {"metadata": {"name": "prod-aws", "generation": 1},
                       "spec": {"provider": "aws-iam"}, "status": {"bindings": 1}}
    assert without_managed_fields({}) == {"metadata": {}, "spec": {}, "status": {}}


def test_a_new_identity_or_spec_is_a_change_and_a_status_write_is_only_a_recount() -> None:
    seen = IdentityRecorder()
    seen.feed.saw(seen.feed.trim(identity("prod-aws")))
    seen.feed.saw(seen.feed.trim(identity("prod-aws")))  # the operator's own status write
    seen.feed.saw(seen.feed.trim(identity("prod-aws", generation=2)))

    assert seen.changed == ["prod-aws", "prod-aws"]
    assert seen.recounts == 3
    assert "prod-aws" in seen.cache


def test_each_later_version_of_an_identity_is_seen_with_the_ready_condition_it_had() -> None:
    seen = IdentityRecorder()
    ready = {"type": "Ready", "status": "True", "reason": "Valid"}
    first = identity("prod-aws")
    first["status"]["conditions"] = [ready]
    seen.feed.saw(first)  # not known before: nothing to compare with
    seen.feed.saw(identity("prod-aws", generation=2))
    seen.feed.saw(identity("prod-aws", generation=3))
    assert seen.versions == [(2, ready), (3, None)]


def test_a_deleted_identity_leaves_the_cache_and_is_reported_deleted() -> None:
    seen = IdentityRecorder()
    seen.feed.saw(identity("prod-aws"))
    seen.feed.gone(identity("prod-aws"))

    assert "prod-aws" not in seen.cache
    assert seen.deleted == ["prod-aws"]
    assert seen.recounts == 2


def test_a_list_forgets_the_identities_it_no_longer_finds() -> None:
    seen = IdentityRecorder()
    for name in ("kept", "deleted-meanwhile"):
        seen.feed.saw(identity(name))
    seen.feed.listed(scope(), frozenset({("", "kept")}), "42")

    assert seen.cache.names() == {"kept"}
    assert seen.deleted == ["deleted-meanwhile"]
    assert seen.recounts == 3


# -- bindings --------------------------------------------------------------------------------------


class FleetRecorder:
    """Stands in for the BindingFleet: what the feed told it."""

    def __init__(self) -> None:
        self.calls: list[tuple[Any, ...]] = []

    def saw_binding(self, namespace: str, name: str, body: Mapping[str, Any]) -> None:
        self.calls.append(("saw", namespace, name, body["spec"]))

    def forget_binding(self, namespace: str, name: str) -> None:
        self.calls.append(("forget", namespace, name))

    def retain(self, covers: Callable[[str], bool], keys: Set[tuple[str, str]]) -> None:
        self.calls.append(("retain", covers("elsewhere"), keys))


class BindingRecorder:
    def __init__(self) -> None:
        self.fleet = FleetRecorder()
        self.released: list[Mapping[str, Any]] = []
        self.feed = BindingFeed(cast(BindingFleet, self.fleet), self.release)

    async def release(self, metadata: Mapping[str, Any]) -> None:
        self.released.append(metadata)


def binding(**metadata: Any) -> dict[str, Any]:
    return {"metadata": {"name": "api", "namespace": NAMESPACE, **metadata},
            "spec": {"serviceAccountId": "sa"}}


async def test_a_binding_seen_goes_to_the_fleet_and_a_deleted_one_is_forgotten() -> None:
    seen = BindingRecorder()
    seen.feed.saw(seen.feed.trim(binding()))
    seen.feed.gone(seen.feed.trim(binding()))

    assert seen.fleet.calls == [("saw", NAMESPACE, "api", {"serviceAccountId": "sa"}),
                                ("forget", NAMESPACE, "api")]
    await asyncio.sleep(0)
    assert seen.released == []


async def test_a_binding_being_deleted_is_forgotten_not_worked_on() -> None:
    seen = BindingRecorder()
    seen.feed.saw(binding(deletionTimestamp="2026-03-01T12:00:00Z"))
    assert seen.fleet.calls == [("forget", NAMESPACE, "api")]


async def test_a_binding_with_legacy_marks_is_released_in_the_background_and_still_served() -> None:
    seen = BindingRecorder()
    seen.feed.saw(binding(finalizers=[LEGACY_FINALIZER], resourceVersion="5"))

    assert seen.fleet.calls == [("saw", NAMESPACE, "api", {"serviceAccountId": "sa"})]
    assert seen.released == []  # not awaited by saw(): a task does it
    await asyncio.sleep(0)
    assert [metadata["resourceVersion"] for metadata in seen.released] == ["5"]


@pytest.mark.parametrize(("namespaces", "elsewhere"), [((NAMESPACE,), False), ((), True)])
def test_a_list_of_bindings_tells_the_fleet_what_exists_where_it_looked(
    namespaces: tuple[str, ...], elsewhere: bool
) -> None:
    seen = BindingRecorder()
    keys = frozenset({(NAMESPACE, "api")})
    seen.feed.listed(scope(*namespaces), keys, "42")
    assert seen.fleet.calls == [("retain", elsewhere, keys)]


# -- Secrets ---------------------------------------------------------------------------------------


class SecretRecorder:
    def __init__(self) -> None:
        self.cache = SecretCache()
        self.woken: list[tuple[str, str]] = []
        self.feed = SecretFeed(self.cache, self.woken.append)


def secret(*, version: str = "10", owner: str | None = "api", checksum: str | None = None,
           data: dict[str, str] = DATA) -> dict[str, Any]:
    annotations = {CHECKSUM_ANNOTATION: checksum} if checksum is not None else {}
    owners = ([{"kind": "ServiceAccountBinding", "name": owner, "uid": "u", "controller": True}]
              if owner is not None else [])
    return {"metadata": {"name": "phase-token", "namespace": NAMESPACE, "resourceVersion": version,
                         "labels": dict([MANAGED_BY_LABEL]), "annotations": annotations,
                         "ownerReferences": owners, "managedFields": [{}]},
            "data": data}


INTACT = data_checksum(DATA)


def test_a_secret_is_kept_as_the_parts_deciding_needs() -> None:
    seen = SecretFeed.trim(secret(checksum=INTACT))
    assert (seen.namespace, seen.name, seen.secret.owner) == (NAMESPACE, "phase-token", "api")
    assert seen.secret.resource_version == "10"


@pytest.mark.parametrize("body", [
    secret(version="11"), secret(version="11", checksum=INTACT, data={"token": "ZWRpdGVk"}),
    secret(version="11", checksum=INTACT),
], ids=["no checksum", "edited data", "edited metadata"])
def test_a_secret_someone_else_changed_wakes_its_binding(body: dict[str, Any]) -> None:
    seen = SecretRecorder()
    seen.cache.saw(NAMESPACE, "phase-token", SecretFeed.trim(secret(checksum=INTACT)).secret)
    seen.feed.saw(SecretFeed.trim(body))
    assert seen.woken == [(NAMESPACE, "api")]
    assert len(seen.cache) == 1


def test_the_watchs_echo_of_our_own_write_wakes_nobody() -> None:
    seen = SecretRecorder()
    written = SecretFeed.trim(secret(checksum=INTACT))
    seen.cache.saw(NAMESPACE, "phase-token", written.secret)  # from the API's reply
    seen.feed.saw(written)
    assert seen.woken == []
    assert len(seen.cache) == 1


def test_an_older_version_than_the_cache_holds_wakes_nobody() -> None:
    seen = SecretRecorder()
    seen.cache.saw(NAMESPACE, "phase-token", SecretFeed.trim(secret(version="20")).secret)
    seen.feed.saw(SecretFeed.trim(secret(version="10")))
    assert seen.woken == []


def test_a_deleted_secret_leaves_the_cache_and_wakes_its_binding() -> None:
    seen = SecretRecorder()
    seen.cache.saw(NAMESPACE, "phase-token", SecretFeed.trim(secret(checksum=INTACT)).secret)
    seen.feed.gone(SecretFeed.trim(secret(version="11", checksum=INTACT)))
    assert len(seen.cache) == 0
    assert seen.woken == [(NAMESPACE, "api")]


def test_a_secret_without_an_owning_binding_wakes_nobody() -> None:
    seen = SecretRecorder()
    seen.feed.saw(SecretFeed.trim(secret(owner=None)))
    seen.feed.gone(SecretFeed.trim(secret(owner=None, version="11")))
    assert seen.woken == []


def test_a_list_of_secrets_drops_those_deleted_meanwhile() -> None:
    seen = SecretRecorder()
    seen.feed.saw(SecretFeed.trim(secret(checksum=INTACT)))
    seen.feed.listed(scope(NAMESPACE), frozenset(), "42")
    assert len(seen.cache) == 0
