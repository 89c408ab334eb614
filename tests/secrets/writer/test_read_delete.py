"""SecretWriter.read (restart-resume, drift detection) and delete (only ours)."""

from __future__ import annotations

import dataclasses
from datetime import UTC, datetime

import pytest
from support.kube.emulator import KubeEmulator
from support.kube.fixtures import KubeAPI

from external_identity.errors import SecretConflict
from external_identity.secrets.data import SecretKeys, SecretTarget
from external_identity.secrets.writer import SecretWriter
from tests.secrets.writer.samples import SECRETS, b64, issued


async def test_reading_an_absent_secret_gives_none(
    writer: SecretWriter, target: SecretTarget
) -> None:
    assert await writer.read(target) is None


async def test_reading_back_gives_the_times_written_and_intact_data(
    kube_api: KubeAPI, writer: SecretWriter, target: SecretTarget
) -> None:
    await writer.write(target, issued(ttl=1800))

    stored = await writer.read(target)

    secret = kube_api.get(SECRETS, target.namespace, target.name)
    assert secret is not None and stored is not None
    assert stored.expires_at == datetime(2030, 1, 2, 3, 30, 5, tzinfo=UTC)
    assert stored.issued_at == datetime(2030, 1, 2, 3, 0, 5, tzinfo=UTC)
    assert stored.data_intact is True
    assert stored.resource_version == secret["metadata"]["resourceVersion"]


@pytest.mark.parametrize("edit", [
    {"data": {"token": b64("pasted by hand")}},
    {"data": {"token": ""}},
    {"data": {"token": None}},
    {"data": {"extra": b64("x")}},
])
async def test_someone_editing_the_data_makes_it_not_intact(
    kube_api: KubeAPI, writer: SecretWriter, target: SecretTarget, edit: dict[str, object]
) -> None:
    await writer.write(target, issued())
    kube_api.patch_object(SECRETS, target.namespace, target.name, edit)

    stored = await writer.read(target)

    assert stored is not None
    assert stored.data_intact is False
    assert stored.expires_at is not None  # the annotations still tell when the token expires


async def test_a_changed_key_layout_makes_the_data_not_intact(
    writer: SecretWriter, target: SecretTarget
) -> None:
    await writer.write(target, issued())
    stored = await writer.read(dataclasses.replace(target, keys=SecretKeys(bearer_token="auth")))
    assert stored is not None and stored.data_intact is False


async def test_reading_someone_elses_secret_is_a_conflict(
    kube_api: KubeAPI, writer: SecretWriter, target: SecretTarget
) -> None:
    kube_api.create({"apiVersion": "v1", "kind": "Secret",
                     "metadata": {"name": target.name, "namespace": target.namespace}})
    with pytest.raises(SecretConflict):
        await writer.read(target)


async def test_deleting_our_secret_removes_it(
    kube_api: KubeAPI, writer: SecretWriter, target: SecretTarget
) -> None:
    await writer.write(target, issued())
    assert await writer.delete(target) is True
    assert kube_api.get(SECRETS, target.namespace, target.name) is None
    assert await writer.delete(target) is False


async def test_someone_elses_secret_is_never_deleted(
    kube_api: KubeAPI, writer: SecretWriter, target: SecretTarget
) -> None:
    before = kube_api.create({"apiVersion": "v1", "kind": "Secret",
                              "metadata": {"name": target.name, "namespace": target.namespace}})
    with pytest.raises(SecretConflict, match="is not owned by ServiceAccountBinding"):
        await writer.delete(target)
    assert kube_api.get(SECRETS, target.namespace, target.name) == before

    assert target.owner is not None
    other = dataclasses.replace(target, name="other", owner_key="another-binding", owner=(
        dataclasses.replace(target.owner, name="orders-api", uid="another-binding")))
    await writer.write(other, issued())
    with pytest.raises(SecretConflict, match="belongs to ServiceAccountBinding 'orders-api'"):
        await writer.delete(dataclasses.replace(target, name="other"))
    assert kube_api.get(SECRETS, target.namespace, "other") is not None


async def test_a_secret_replaced_by_someone_else_before_the_delete_survives(
    kube_api: KubeAPI, writer: SecretWriter, target: SecretTarget
) -> None:
    await writer.write(target, issued())

    def replace_with_a_foreign_secret(emulator: KubeEmulator) -> None:
        emulator.delete_object(SECRETS, target.namespace, target.name)
        emulator.seed({"apiVersion": "v1", "kind": "Secret",
                       "metadata": {"name": target.name, "namespace": target.namespace},
                       "stringData": {"token": "theirs now"}})

    kube_api.interfere(
        f"delete /api/v1/namespaces/{target.namespace}/secrets/{target.name}",
        replace_with_a_foreign_secret,
    )

    with pytest.raises(SecretConflict):
        await writer.delete(target)
    secret = kube_api.get(SECRETS, target.namespace, target.name)
    assert secret is not None and secret["data"] == {"token": b64("theirs now")}
