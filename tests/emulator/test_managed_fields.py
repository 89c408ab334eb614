"""metadata.managedFields through the real kubernetes client, as a real API server keeps them."""

from __future__ import annotations

import datetime
import json
from typing import Any

import pytest
from kubernetes import watch
from kubernetes.client.exceptions import ApiException
from support.kube.fixtures import KubeAPI

GROUP, VERSION = "externalidentity.dev", "v1alpha1"
BINDINGS = f"{GROUP}/{VERSION}/serviceaccountbindings"


@pytest.fixture
def team(kube_api: KubeAPI) -> str:
    kube_api.ensure_namespace("team")
    return "team"


def entries(obj: Any) -> list[dict[str, Any]]:
    """managedFields of a stored dict or a client model, as plain JSON."""
    meta = obj["metadata"] if isinstance(obj, dict) else obj.to_dict()["metadata"]
    raw = meta.get("managedFields", meta.get("managed_fields")) or []
    names = {"fields_v1": "fieldsV1", "fields_type": "fieldsType", "api_version": "apiVersion"}
    return [
        {names.get(key, key): value.strftime("%Y-%m-%dT%H:%M:%SZ")
         if isinstance(value, datetime.datetime) else value
         for key, value in entry.items() if value is not None}
        for entry in raw
    ]


def by_manager(obj: Any) -> dict[tuple[str, str | None], dict[str, Any]]:
    return {(entry["manager"], entry.get("subresource")): entry for entry in entries(obj)}


def binding() -> dict[str, Any]:
    return {
        "apiVersion": f"{GROUP}/{VERSION}",
        "kind": "ServiceAccountBinding",
        "metadata": {"name": "api", "namespace": "team", "labels": {"app": "x"}},
        "spec": {"externalIdentityRef": {"name": "prod-aws"},
                 "serviceAccountId": "0f1a2b3c-4d5e-6789-abcd-ef0123456789",
                 "secret": {"name": "token"}},
    }


def test_a_created_object_records_its_creator_like_a_real_server(
    kube_api: KubeAPI, team: str
) -> None:
    core = kube_api.core_v1()
    created = core.create_namespaced_secret(team, {
        "metadata": {"name": "a", "labels": {"app": "x"}, "finalizers": ["x/y"],
                     "ownerReferences": [{"apiVersion": "v1", "kind": "ConfigMap", "name": "o",
                                          "uid": "u-1", "controller": True}]},
        "stringData": {"token": "t"},
    })

    [entry] = entries(created)
    assert entry["manager"] == "OpenAPI-Generator"  # the kubernetes client's User-Agent prefix
    assert (entry["operation"], entry["apiVersion"], entry["fieldsType"]) == (
        "Update", "v1", "FieldsV1")
    assert entry["time"].endswith("Z") and "subresource" not in entry
    assert entry["fieldsV1"] == {
        "f:data": {".": {}, "f:token": {}},
        "f:metadata": {
            "f:finalizers": {".": {}, 'v:"x/y"': {}},
            "f:labels": {".": {}, "f:app": {}},
            "f:ownerReferences": {".": {}, 'k:{"uid":"u-1"}': {
                ".": {}, "f:apiVersion": {}, "f:controller": {}, "f:kind": {}, "f:name": {},
                "f:uid": {},
            }},
        },
        "f:type": {},  # defaulted by the server, owned by the creator
    }
    stored = kube_api.get("v1/secrets", team, "a")
    assert entries(stored) == [entry]


def test_every_read_returns_managed_fields(kube_api: KubeAPI, team: str) -> None:
    core = kube_api.core_v1()
    created = core.create_namespaced_secret(team, {"metadata": {"name": "a", "labels": {"k": "v"}}})

    got = core.read_namespaced_secret("a", team)
    [listed] = core.list_namespaced_secret(team).items
    [event] = watch.Watch().stream(core.list_namespaced_secret, team, timeout_seconds=1)

    assert entries(created)
    assert entries(got) == entries(listed) == entries(event["object"]) == entries(created)


def test_each_manager_gets_its_own_entry_and_status_writes_are_a_subresource(
    kube_api: KubeAPI, team: str
) -> None:
    api = kube_api.custom_objects()
    api.create_namespaced_custom_object(GROUP, VERSION, team, "serviceaccountbindings", binding())
    kopf = kube_api.custom_objects()
    kopf.api_client.user_agent = "kopf/1.45.2"
    kopf.patch_namespaced_custom_object(GROUP, VERSION, team, "serviceaccountbindings", "api", {
        "metadata": {"annotations": {"kopf.zalando.org/last-handled-configuration": "{}"}}})
    api.patch_namespaced_custom_object_status(
        GROUP, VERSION, team, "serviceaccountbindings", "api",
        {"status": {"ttl": 60, "conditions": [{"type": "Ready", "status": "True"}]}},
        field_manager="status-writer",
    )

    managers = by_manager(kube_api.get(BINDINGS, team, "api"))
    assert set(managers) == {("OpenAPI-Generator", None), ("kopf", None),
                             ("status-writer", "status")}
    assert "f:spec" in managers["OpenAPI-Generator", None]["fieldsV1"]
    assert managers["kopf", None]["fieldsV1"] == {"f:metadata": {"f:annotations": {
        ".": {}, "f:kopf.zalando.org/last-handled-configuration": {}}}}
    assert managers["status-writer", "status"]["fieldsV1"] == {"f:status": {
        ".": {}, "f:ttl": {},
        # conditions is a list-type map keyed by type in the CRD's schema
        "f:conditions": {".": {}, 'k:{"type":"Ready"}': {".": {}, "f:status": {},
                                                         "f:type": {}}},
    }}
    assert managers["status-writer", "status"]["apiVersion"] == f"{GROUP}/{VERSION}"


def test_a_field_changed_by_another_manager_moves_to_it(kube_api: KubeAPI, team: str) -> None:
    core = kube_api.core_v1()
    core.create_namespaced_secret(team, {"metadata": {"name": "a", "labels": {"x": "1", "y": "1"}}})
    core.patch_namespaced_secret("a", team, {"metadata": {"labels": {"x": "2"}}},
                                 field_manager="editor")
    moved = by_manager(kube_api.get("v1/secrets", team, "a"))
    core.patch_namespaced_secret("a", team, {"metadata": {"labels": {"x": None}}},
                                 field_manager="cleaner")
    removed = by_manager(kube_api.get("v1/secrets", team, "a"))

    assert moved["OpenAPI-Generator", None]["fieldsV1"]["f:metadata"]["f:labels"] == {
        ".": {}, "f:y": {}}
    assert moved["editor", None]["fieldsV1"] == {"f:metadata": {"f:labels": {"f:x": {}}}}
    # A removal takes the field from everyone and gives the remover nothing: editor is gone.
    assert set(removed) == {("OpenAPI-Generator", None)}


def test_an_entry_time_moves_only_when_its_manager_changes_something(
    kube_api: KubeAPI, team: str
) -> None:
    core = kube_api.core_v1()
    created = core.create_namespaced_secret(team, {"metadata": {"name": "a"},
                                                   "stringData": {"k": "v"}})
    # Managed fields sent with a write replace the stored ones (here: an older time).
    [old] = entries(created)
    core.patch_namespaced_secret("a", team, {"metadata": {"managedFields": [
        {**old, "time": "2020-01-01T00:00:00Z"}]}})
    core.patch_namespaced_secret("a", team, {"metadata": {"labels": {"n": "1"}}},
                                 field_manager="other")
    untouched = by_manager(kube_api.get("v1/secrets", team, "a"))["OpenAPI-Generator", None]
    core.patch_namespaced_secret("a", team, {"data": {"k": "dzI="}})
    touched = by_manager(kube_api.get("v1/secrets", team, "a"))["OpenAPI-Generator", None]

    assert untouched["time"] == "2020-01-01T00:00:00Z"
    assert touched["time"] > "2020-01-01T00:00:00Z"


def test_replacing_an_object_as_read_changes_nothing(kube_api: KubeAPI, team: str) -> None:
    # The client re-serialises managedFields times as "+00:00": still the same object.
    core = kube_api.core_v1()
    created = core.create_namespaced_secret(team, {"metadata": {"name": "a", "labels": {"k": "v"}},
                                                   "stringData": {"k": "v"}})
    replaced = core.replace_namespaced_secret("a", team, core.read_namespaced_secret("a", team))

    assert replaced.metadata.resource_version == created.metadata.resource_version
    assert len(kube_api.versions("v1/secrets", team, "a")) == 1
    assert entries(replaced) == entries(created)


def test_an_empty_entry_resets_managed_fields_except_through_status(
    kube_api: KubeAPI, team: str
) -> None:
    api = kube_api.custom_objects()
    api.create_namespaced_custom_object(GROUP, VERSION, team, "serviceaccountbindings", binding())
    api.patch_namespaced_custom_object_status(
        GROUP, VERSION, team, "serviceaccountbindings", "api",
        {"metadata": {"managedFields": [{}]}, "status": {"ttl": 1}})
    through_status = by_manager(kube_api.get(BINDINGS, team, "api"))
    api.patch_namespaced_custom_object(GROUP, VERSION, team, "serviceaccountbindings", "api",
                                       {"metadata": {"managedFields": [{}]}})

    assert set(through_status) == {("OpenAPI-Generator", None), ("OpenAPI-Generator", "status")}
    assert "managedFields" not in kube_api.get(BINDINGS, team, "api")["metadata"]


def test_writes_without_a_manager_name_use_the_user_agent_prefix(
    kube_api: KubeAPI, team: str
) -> None:
    core = kube_api.core_v1()
    core.api_client.user_agent = "kubectl/v1.28.0 (linux/amd64) kubernetes/abcdef"
    core.create_namespaced_config_map(team, {"metadata": {"name": "a"}, "data": {"k": "v"}})
    with pytest.raises(ApiException) as too_long:
        core.create_namespaced_config_map(team, {"metadata": {"name": "b"}, "data": {"k": "v"}},
                                          field_manager="m" * 129)

    assert set(by_manager(kube_api.get("v1/configmaps", team, "a"))) == {("kubectl", None)}
    assert too_long.value.status == 422
    assert json.loads(too_long.value.body)["reason"] == "Invalid"
    assert kube_api.get("v1/configmaps", team, "b") is None


def test_more_than_ten_update_managers_fold_the_oldest_into_ancient_changes(
    kube_api: KubeAPI, team: str
) -> None:
    core = kube_api.core_v1()
    core.create_namespaced_config_map(team, {"metadata": {"name": "a"}, "data": {"k0": "v"}})
    for index in range(1, 12):
        core.patch_namespaced_config_map("a", team, {"data": {f"k{index}": "v"}},
                                         field_manager=f"m{index:02d}")

    managers = [entry["manager"] for entry in entries(kube_api.get("v1/configmaps", team, "a"))]
    assert len(managers) == 10
    assert "ancient-changes" in managers and "m11" in managers
