"""The emulator plays the garbage collector, as a real cluster does for owner references."""

from __future__ import annotations

from typing import Any

from support.kube.server import KubeAPI


def _secret(name: str, *owners: dict[str, Any]) -> dict[str, Any]:
    return {
        "apiVersion": "v1", "kind": "Secret",
        "metadata": {"name": name, "namespace": "default", "ownerReferences": list(owners)},
        "data": {},
    }


def _owner(body: dict[str, Any]) -> dict[str, Any]:
    meta = body["metadata"]
    return {"apiVersion": "v1", "kind": "ConfigMap", "name": meta["name"], "uid": meta["uid"]}


def test_deleting_the_owner_deletes_what_it_owns(kube_api: KubeAPI) -> None:
    kube_api.ensure_namespace("default")
    owner = kube_api.create({"apiVersion": "v1", "kind": "ConfigMap",
                             "metadata": {"name": "owner", "namespace": "default"}})
    kube_api.create(_secret("owned", _owner(owner)))
    kube_api.create(_secret("unowned"))

    kube_api.core_v1().delete_namespaced_config_map("owner", "default")

    assert kube_api.get("v1/secrets", "default", "owned") is None
    assert kube_api.get("v1/secrets", "default", "unowned") is not None


def test_a_dependent_with_another_live_owner_stays(kube_api: KubeAPI) -> None:
    kube_api.ensure_namespace("default")
    first, second = (
        kube_api.create({"apiVersion": "v1", "kind": "ConfigMap",
                         "metadata": {"name": name, "namespace": "default"}})
        for name in ("first", "second")
    )
    kube_api.create(_secret("shared", _owner(first), _owner(second)))

    kube_api.core_v1().delete_namespaced_config_map("first", "default")

    assert kube_api.get("v1/secrets", "default", "shared") is not None


def test_an_object_written_for_an_owner_already_deleted_is_collected(kube_api: KubeAPI) -> None:
    kube_api.ensure_namespace("default")
    owner = kube_api.create({"apiVersion": "v1", "kind": "ConfigMap",
                             "metadata": {"name": "owner", "namespace": "default"}})
    kube_api.core_v1().delete_namespaced_config_map("owner", "default")

    kube_api.create(_secret("late", _owner(owner)))

    assert kube_api.get("v1/secrets", "default", "late") is None
