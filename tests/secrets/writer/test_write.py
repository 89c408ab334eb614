"""SecretWriter.write against the emulated API server over real HTTP."""

from __future__ import annotations

import dataclasses
from typing import Any

import pytest
from support.kube.fixtures import KubeAPI

from external_identity.api.problems import problem_for
from external_identity.errors import ConfigurationError, SecretConflict
from external_identity.secrets.data import (
    CHECKSUM_ANNOTATION,
    MANAGED_BY_LABEL,
    SecretKeys,
    SecretTarget,
    data_checksum,
)
from external_identity.secrets.writer import SecretWriter
from tests.secrets.writer.samples import BEARER, SECRETS, TOKEN, b64, issued, owner_reference


def writes(kube_api: KubeAPI, name: str) -> list[tuple[str, int]]:
    return [
        (call.verb, call.status)
        for call in kube_api.calls()
        if call.resource == "secrets" and call.name in (name, None)
        and call.verb in {"create", "update", "patch", "delete"}
    ]


def foreign_secret(kube_api: KubeAPI, target: SecretTarget, **metadata: Any) -> dict[str, Any]:
    return kube_api.create({
        "apiVersion": "v1", "kind": "Secret", "type": "Opaque",
        "metadata": {"name": target.name, "namespace": target.namespace, **metadata},
        "data": {"token": b64("someone else's")},
    })


async def test_a_new_secret_is_created_whole_in_one_write(
    kube_api: KubeAPI, writer: SecretWriter, target: SecretTarget
) -> None:
    target = dataclasses.replace(
        target,
        keys=SecretKeys(bearer_token="authorization", expires_at="expires", host="host"),
        labels={"team": "payments"},
        annotations={"reloader.stakater.com/match": "true"},
    )
    await writer.write(target, issued())

    secret = kube_api.get(SECRETS, target.namespace, target.name)
    assert secret is not None
    assert secret["type"] == "Opaque"
    assert secret["data"] == {
        "token": b64(TOKEN),
        "authorization": b64(BEARER),
        "expires": b64("2030-01-02T04:00:05Z"),
        "host": b64("https://console.phase.dev"),
    }
    assert secret["metadata"]["labels"] == {
        "team": "payments", MANAGED_BY_LABEL[0]: MANAGED_BY_LABEL[1],
    }
    assert secret["metadata"]["annotations"] == {
        "reloader.stakater.com/match": "true",
        "externalidentity.dev/owner": target.owner_key,
        "externalidentity.dev/identity": "prod-aws",
        "externalidentity.dev/expires-at": "2030-01-02T04:00:05Z",
        "externalidentity.dev/issued-at": "2030-01-02T03:00:05Z",
        "externalidentity.dev/ttl": "3600",
        CHECKSUM_ANNOTATION: data_checksum(secret["data"]),
    }
    assert writes(kube_api, target.name) == [("create", 201)]


async def test_the_phase_env_format_and_a_custom_type_are_written(
    kube_api: KubeAPI, writer: SecretWriter, target: SecretTarget
) -> None:
    target = dataclasses.replace(
        target, keys=SecretKeys(phase_env=True), type="example.com/phase-token"
    )
    await writer.write(target, issued())

    secret = kube_api.get(SECRETS, target.namespace, target.name)
    assert secret is not None
    assert secret["type"] == "example.com/phase-token"
    assert secret["data"] == {
        "token": b64(TOKEN),
        "PHASE_SERVICE_TOKEN": b64(TOKEN),
        "PHASE_HOST": b64("https://console.phase.dev"),
    }
    stored = await writer.read(target)
    assert stored is not None and stored.data_intact


async def test_the_owner_reference_names_the_binding_without_blocking_its_deletion(
    kube_api: KubeAPI, writer: SecretWriter, target: SecretTarget
) -> None:
    await writer.write(target, issued())

    secret = kube_api.get(SECRETS, target.namespace, target.name)
    assert secret is not None
    assert target.owner is not None
    assert secret["metadata"]["ownerReferences"] == [{
        "apiVersion": "externalidentity.dev/v1alpha1", "kind": "ServiceAccountBinding",
        "name": "payments-api", "uid": target.owner.uid,
        "controller": True, "blockOwnerDeletion": False,
    }]


async def test_a_cli_target_without_an_owner_writes_no_owner_reference(
    kube_api: KubeAPI, writer: SecretWriter, target: SecretTarget
) -> None:
    cli = dataclasses.replace(target, owner=None, owner_key="external-identity-cli")
    await writer.write(cli, issued())

    secret = kube_api.get(SECRETS, target.namespace, target.name)
    assert secret is not None
    assert "ownerReferences" not in secret["metadata"]


async def test_an_update_replaces_the_secret_in_place_with_one_write(
    kube_api: KubeAPI, writer: SecretWriter, target: SecretTarget
) -> None:
    await writer.write(target, issued("pss_service:v2:first"))
    before = kube_api.get(SECRETS, target.namespace, target.name)
    kube_api.clear_calls()

    await writer.write(target, issued("pss_service:v2:second", ttl=600))

    after = kube_api.get(SECRETS, target.namespace, target.name)
    assert before is not None and after is not None
    assert after["metadata"]["uid"] == before["metadata"]["uid"]
    assert int(after["metadata"]["resourceVersion"]) > int(before["metadata"]["resourceVersion"])
    assert after["data"] == {"token": b64("pss_service:v2:second")}
    assert after["metadata"]["annotations"]["externalidentity.dev/ttl"] == "600"
    assert writes(kube_api, target.name) == [("update", 200)]
    versions = kube_api.versions(SECRETS, target.namespace, target.name)
    assert [v["data"] for v in versions if v] == [  # never blank in between
        {"token": b64("pss_service:v2:first")}, {"token": b64("pss_service:v2:second")},
    ]


async def test_a_foreign_secret_is_a_conflict_and_stays_untouched(
    kube_api: KubeAPI, writer: SecretWriter, target: SecretTarget
) -> None:
    before = foreign_secret(kube_api, target, labels={"app": "legacy"})
    kube_api.clear_calls()

    with pytest.raises(SecretConflict) as caught:
        await writer.write(target, issued())

    assert kube_api.get(SECRETS, target.namespace, target.name) == before
    assert writes(kube_api, target.name) == []
    assert f"{target.namespace}/{target.name}" in str(caught.value)
    assert problem_for(caught.value).reason == "SecretConflict"


@pytest.mark.parametrize("owner", ["cli", "another binding"])
async def test_a_secret_managed_for_another_owner_is_a_conflict(
    kube_api: KubeAPI, writer: SecretWriter, target: SecretTarget, owner: str
) -> None:
    assert target.owner is not None
    other = dataclasses.replace(target, owner_key="another-binding-uid", owner=None if (
        owner == "cli") else dataclasses.replace(target.owner, name="orders-api", uid="x"))
    await writer.write(other, issued("pss_service:v2:theirs"))
    before = kube_api.get(SECRETS, target.namespace, target.name)

    with pytest.raises(SecretConflict, match=r"not owned by|belongs to ServiceAccountBinding"):
        await writer.write(target, issued())

    assert kube_api.get(SECRETS, target.namespace, target.name) == before


async def test_a_concurrent_edit_between_read_and_replace_is_retried(
    kube_api: KubeAPI, writer: SecretWriter, target: SecretTarget
) -> None:
    await writer.write(target, issued("pss_service:v2:first"))
    kube_api.interfere(
        f"put /api/v1/namespaces/{target.namespace}/secrets/{target.name}",
        lambda emulator: emulator.patch_object(
            SECRETS, target.namespace, target.name, {"metadata": {"labels": {"edited": "yes"}}}
        ),
    )
    kube_api.clear_calls()

    await writer.write(target, issued("pss_service:v2:second"))

    secret = kube_api.get(SECRETS, target.namespace, target.name)
    assert secret is not None
    assert secret["data"] == {"token": b64("pss_service:v2:second")}
    assert writes(kube_api, target.name) == [("update", 409), ("update", 200)]


async def test_a_secret_created_by_us_elsewhere_meanwhile_is_replaced_after_one_retry(
    kube_api: KubeAPI, writer: SecretWriter, target: SecretTarget
) -> None:
    kube_api.interfere(
        f"post /api/v1/namespaces/{target.namespace}/secrets",
        lambda emulator: emulator.seed({
            "apiVersion": "v1", "kind": "Secret",
            "metadata": {"name": target.name, "namespace": target.namespace,
                         "ownerReferences": [owner_reference(target)]},
        }),
    )

    await writer.write(target, issued())

    secret = kube_api.get(SECRETS, target.namespace, target.name)
    assert secret is not None and secret["data"] == {"token": b64(TOKEN)}
    assert writes(kube_api, target.name) == [("create", 409), ("update", 200)]


async def test_a_foreign_secret_created_meanwhile_is_a_conflict(
    kube_api: KubeAPI, writer: SecretWriter, target: SecretTarget
) -> None:
    kube_api.interfere(
        f"post /api/v1/namespaces/{target.namespace}/secrets",
        lambda emulator: emulator.seed({
            "apiVersion": "v1", "kind": "Secret",
            "metadata": {"name": target.name, "namespace": target.namespace},
            "stringData": {"token": "not ours"},
        }),
    )

    with pytest.raises(SecretConflict):
        await writer.write(target, issued())

    secret = kube_api.get(SECRETS, target.namespace, target.name)
    assert secret is not None and secret["data"] == {"token": b64("not ours")}


async def test_replacing_keeps_finalizers_that_others_put_on_the_secret(
    kube_api: KubeAPI, writer: SecretWriter, target: SecretTarget
) -> None:
    await writer.write(target, issued("pss_service:v2:first"))
    kube_api.patch_object(SECRETS, target.namespace, target.name,
                          {"metadata": {"finalizers": ["backup.example.com/keep"]}})

    await writer.write(target, issued("pss_service:v2:second"))

    secret = kube_api.get(SECRETS, target.namespace, target.name)
    assert secret is not None
    assert secret["metadata"]["finalizers"] == ["backup.example.com/keep"]


def reads(kube_api: KubeAPI, name: str) -> int:
    return sum(1 for call in kube_api.calls()
               if call.resource == "secrets" and call.name == name and call.verb == "get")


async def test_what_was_just_read_spares_the_write_its_own_read(
    kube_api: KubeAPI, writer: SecretWriter, target: SecretTarget
) -> None:
    await writer.write(target, issued("pss_service:v2:first"), known=await writer.read(target))
    kube_api.patch_object(SECRETS, target.namespace, target.name,
                          {"metadata": {"finalizers": ["backup.example.com/keep"]}})
    known = await writer.read(target)
    kube_api.clear_calls()

    await writer.write(target, issued("pss_service:v2:second"), known=known)

    assert reads(kube_api, target.name) == 0
    assert writes(kube_api, target.name) == [("update", 200)]
    secret = kube_api.get(SECRETS, target.namespace, target.name)
    assert secret is not None and secret["data"] == {"token": b64("pss_service:v2:second")}
    assert secret["metadata"]["finalizers"] == ["backup.example.com/keep"]


async def test_a_stale_read_costs_one_conflict_and_one_read(
    kube_api: KubeAPI, writer: SecretWriter, target: SecretTarget
) -> None:
    await writer.write(target, issued("pss_service:v2:first"))
    known = await writer.read(target)
    kube_api.patch_object(SECRETS, target.namespace, target.name,
                          {"metadata": {"labels": {"edited": "yes"}}})
    kube_api.clear_calls()

    await writer.write(target, issued("pss_service:v2:second"), known=known)

    assert reads(kube_api, target.name) == 1
    assert writes(kube_api, target.name) == [("update", 409), ("update", 200)]


async def test_a_secret_known_absent_is_created_without_a_read(
    kube_api: KubeAPI, writer: SecretWriter, target: SecretTarget
) -> None:
    await writer.write(target, issued(), known=None)

    assert reads(kube_api, target.name) == 0
    assert writes(kube_api, target.name) == [("create", 201)]


@pytest.mark.parametrize("keys", [
    SecretKeys(token="token", bearer_token="token"),
    SecretKeys(token="has/slash"),
])
async def test_bad_key_configuration_is_refused_before_any_write(
    kube_api: KubeAPI, writer: SecretWriter, target: SecretTarget, keys: SecretKeys
) -> None:
    kube_api.clear_calls()
    with pytest.raises(ConfigurationError):
        await writer.write(dataclasses.replace(target, keys=keys), issued())
    assert kube_api.calls() == []
