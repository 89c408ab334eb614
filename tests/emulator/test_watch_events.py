"""Watch events as a real API server sends them: one per change, none for a no-op, by selector."""

from __future__ import annotations

import json
import threading
import urllib.parse
from typing import Any

import pytest
from kubernetes import watch
from support.kube.fixtures import KubeAPI

GROUP, VERSION = "externalidentity.dev", "v1alpha1"


@pytest.fixture
def team(kube_api: KubeAPI) -> str:
    kube_api.ensure_namespace("team")
    return "team"


def binding() -> dict[str, Any]:
    return {
        "apiVersion": f"{GROUP}/{VERSION}",
        "kind": "ServiceAccountBinding",
        "metadata": {"name": "api", "namespace": "team"},
        "spec": {"externalIdentityRef": {"name": "prod-aws"},
                 "serviceAccountId": "0f1a2b3c-4d5e-6789-abcd-ef0123456789",
                 "secret": {"name": "token"}},
    }


def raw_events(kube_api: KubeAPI, plural: str, since: str, **params: str) -> list[dict[str, Any]]:
    """A watch resumed after ``since``, as the JSON objects the server sent."""
    path = "/api/v1" if plural == "secrets" else f"/apis/{GROUP}/{VERSION}"
    query = urllib.parse.urlencode(
        {"watch": "true", "resourceVersion": since, "timeoutSeconds": "1", **params})
    response = kube_api.api_client().rest_client.pool_manager.request(
        "GET", f"{kube_api.url}{path}/namespaces/team/{plural}?{query}")
    assert response.status == 200
    return [json.loads(line) for line in response.data.splitlines() if line.strip()]


def test_every_change_is_one_event_with_the_whole_object_and_no_ops_are_none(
    kube_api: KubeAPI, team: str
) -> None:
    core = kube_api.core_v1()
    core.create_namespaced_secret(team, {"metadata": {"name": "a"}, "stringData": {"k": "v"}})
    since = core.list_namespaced_secret(team).metadata.resource_version
    writes = [
        {"metadata": {"labels": {"l": "1"}}},
        {"metadata": {"annotations": {"a": "1"}}},
        {"metadata": {"finalizers": ["x/y"]}},
        {"data": {"k": "dzI="}},
    ]
    versions = [core.patch_namespaced_secret("a", team, patch).metadata.resource_version
                for patch in writes]
    same = core.patch_namespaced_secret("a", team, {"metadata": {"labels": {"l": "1"}},
                                                    "data": {"k": "dzI="}}, field_manager="other")

    events = raw_events(kube_api, "secrets", since)
    assert [event["type"] for event in events] == ["MODIFIED"] * 4
    assert [event["object"]["metadata"]["resourceVersion"] for event in events] == versions
    assert same.metadata.resource_version == versions[-1]
    last = events[-1]["object"]
    assert last["metadata"]["labels"] == {"l": "1"} and last["data"] == {"k": "dzI="}
    assert all(event["object"]["metadata"]["managedFields"] for event in events)
    # Writing what is already there gives the writer no fields: no entry for "other".
    assert [e["manager"] for e in last["metadata"]["managedFields"]] == ["OpenAPI-Generator"]


def test_status_and_metadata_writes_to_a_custom_resource_are_events(
    kube_api: KubeAPI, team: str
) -> None:
    api = kube_api.custom_objects()
    created = api.create_namespaced_custom_object(
        GROUP, VERSION, team, "serviceaccountbindings", binding())
    since = created["metadata"]["resourceVersion"]
    status = {"status": {"ttl": 60}}
    for _ in range(2):  # the second one changes nothing
        api.patch_namespaced_custom_object_status(
            GROUP, VERSION, team, "serviceaccountbindings", "api", status)
    api.patch_namespaced_custom_object(GROUP, VERSION, team, "serviceaccountbindings", "api",
                                       {"metadata": {"annotations": {"kopf": "x"}}})
    api.patch_namespaced_custom_object_status(  # pruned by the schema: a no-op too
        GROUP, VERSION, team, "serviceaccountbindings", "api", {"status": {"kopf": {"p": 1}}})

    events = raw_events(kube_api, "serviceaccountbindings", since)
    assert [event["type"] for event in events] == ["MODIFIED", "MODIFIED"]
    first, second = (event["object"] for event in events)
    assert first["status"] == {"ttl": 60}
    assert [e.get("subresource") for e in first["metadata"]["managedFields"]] == [None, "status"]
    assert second["metadata"]["annotations"] == {"kopf": "x"} and second["status"] == {"ttl": 60}


def selector_scenario(kube_api: KubeAPI, team: str) -> list[tuple[str, str, dict[str, str]]]:
    """Writes around the selector ``app=x``; what a watch with that selector should see."""
    core = kube_api.core_v1()
    core.create_namespaced_secret(team, {"metadata": {"name": "a", "labels": {"app": "x"}}})
    core.create_namespaced_secret(team, {"metadata": {"name": "b", "labels": {"app": "y"}}})
    core.patch_namespaced_secret("a", team, {"metadata": {"annotations": {"n": "1"}}})
    core.patch_namespaced_secret("a", team, {"metadata": {"labels": {"app": "y"}}})  # leaves
    core.patch_namespaced_secret("a", team, {"metadata": {"annotations": {"n": "2"}}})  # unseen
    core.patch_namespaced_secret("b", team, {"metadata": {"labels": {"app": "x"}}})  # enters
    core.patch_namespaced_secret("a", team, {"metadata": {"labels": {"app": "x"}}})  # enters
    core.delete_namespaced_secret("b", team)
    core.delete_namespaced_secret("a", team)
    core.create_namespaced_secret(team, {"metadata": {"name": "c", "labels": {"app": "z"}}})
    core.delete_namespaced_secret("c", team)
    return [
        ("ADDED", "a", {"app": "x"}),
        ("MODIFIED", "a", {"app": "x"}),
        ("DELETED", "a", {"app": "x"}),  # its last state inside the selection
        ("ADDED", "b", {"app": "x"}),
        ("ADDED", "a", {"app": "x"}),
        ("DELETED", "b", {"app": "x"}),
        ("DELETED", "a", {"app": "x"}),
    ]


def test_a_resumed_label_selected_watch_sees_objects_enter_and_leave(
    kube_api: KubeAPI, team: str
) -> None:
    since = kube_api.core_v1().list_namespaced_secret(team).metadata.resource_version
    expected = selector_scenario(kube_api, team)

    events = raw_events(kube_api, "secrets", since, labelSelector="app=x")
    seen = [(e["type"], e["object"]["metadata"]["name"], e["object"]["metadata"]["labels"])
            for e in events]
    assert seen == expected
    versions = [int(e["object"]["metadata"]["resourceVersion"]) for e in events]
    assert versions == sorted(set(versions))  # a leaving DELETED carries its change's version


def test_a_live_label_selected_watch_sees_objects_enter_and_leave(
    kube_api: KubeAPI, team: str
) -> None:
    core = kube_api.core_v1()
    seen: list[tuple[str, str, dict[str, str]]] = []

    def follow() -> None:
        for event in watch.Watch().stream(core.list_namespaced_secret, team,
                                          label_selector="app=x", timeout_seconds=2):
            meta = event["object"].metadata
            seen.append((event["type"], meta.name, meta.labels))

    thread = threading.Thread(target=follow)
    thread.start()
    kube_api.wait_for(lambda: any(call.verb == "watch" for call in kube_api.calls()),
                      message="the watch to start")
    expected = selector_scenario(kube_api, team)
    thread.join(timeout=10)

    assert seen == expected


def test_lists_apply_label_selectors(kube_api: KubeAPI, team: str) -> None:
    core = kube_api.core_v1()
    for name, app in (("a", "x"), ("b", "y"), ("c", "x")):
        core.create_namespaced_secret(team, {"metadata": {"name": name, "labels": {"app": app}}})

    selected = core.list_namespaced_secret(team, label_selector="app=x").items
    others = core.list_secret_for_all_namespaces(label_selector="app notin (x)").items
    assert [secret.metadata.name for secret in selected] == ["a", "c"]
    assert [secret.metadata.name for secret in others] == ["b"]


def test_a_watch_resumed_from_before_a_compaction_is_refused_with_410_expired(
    kube_api: KubeAPI, team: str
) -> None:
    core = kube_api.core_v1()
    before = core.list_namespaced_secret(team).metadata.resource_version
    core.create_namespaced_secret(team, {"metadata": {"name": "a"}, "stringData": {"k": "v"}})
    kube_api.compact()
    after = core.list_namespaced_secret(team).metadata.resource_version
    core.create_namespaced_secret(team, {"metadata": {"name": "b"}, "stringData": {"k": "v"}})

    (refusal,) = raw_events(kube_api, "secrets", before)
    assert refusal["type"] == "ERROR"
    assert (refusal["object"]["code"], refusal["object"]["reason"]) == (410, "Expired")
    resumed = raw_events(kube_api, "secrets", after)  # from after it: the history is whole
    assert [(e["type"], e["object"]["metadata"]["name"]) for e in resumed] == [("ADDED", "b")]


def test_lists_come_in_pages_of_the_limit_asked_all_at_the_first_pages_version(
    kube_api: KubeAPI, team: str
) -> None:
    core = kube_api.core_v1()
    for index in range(5):
        core.create_namespaced_secret(team, {"metadata": {"name": f"s{index}"}})
    pages, token = [], None
    while True:
        page = core.list_namespaced_secret(team, limit=2, _continue=token)
        pages.append(page)
        token = page.metadata._continue
        if not token:
            break
    assert [[s.metadata.name for s in page.items] for page in pages] == [
        ["s0", "s1"], ["s2", "s3"], ["s4"]]
    assert {page.metadata.resource_version for page in pages} == {
        pages[0].metadata.resource_version}
