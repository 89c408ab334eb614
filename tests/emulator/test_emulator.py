"""The emulator answers like an API server where our code depends on it."""

from __future__ import annotations

import json
from typing import Any

import jwt
import pytest
from kubernetes import watch
from kubernetes.client.exceptions import ApiException
from support.kube.fixtures import KubeAPI

GROUP, VERSION = "externalidentity.dev", "v1alpha1"
BINDINGS = f"{GROUP}/{VERSION}/serviceaccountbindings"


def status_of(error: ApiException) -> dict[str, Any]:
    body: dict[str, Any] = json.loads(error.body)
    return body


def binding(name: str = "api", namespace: str = "team", **spec: Any) -> dict[str, Any]:
    return {
        "apiVersion": f"{GROUP}/{VERSION}",
        "kind": "ServiceAccountBinding",
        "metadata": {"name": name, "namespace": namespace},
        "spec": {
            "externalIdentityRef": {"name": "prod-aws"},
            "serviceAccountId": "0f1a2b3c-4d5e-6789-abcd-ef0123456789",
            "secret": {"name": "token"},
            **spec,
        },
    }


@pytest.fixture
def team(kube_api: KubeAPI) -> str:
    kube_api.ensure_namespace("team")
    return "team"


def test_resource_versions_are_stamped_and_bumped_cluster_wide(
    kube_api: KubeAPI, team: str
) -> None:
    core = kube_api.core_v1()
    first = core.create_namespaced_secret(team, {"metadata": {"name": "a"}})
    other = core.create_namespaced_config_map(team, {"metadata": {"name": "b"}})
    patched = core.patch_namespaced_secret("a", team, {"metadata": {"labels": {"x": "y"}}})

    versions = [
        int(first.metadata.resource_version),
        int(other.metadata.resource_version),
        int(patched.metadata.resource_version),
    ]
    assert versions == sorted(set(versions))
    assert isinstance(kube_api.get("v1/secrets", team, "a")["metadata"]["resourceVersion"], str)
    assert first.metadata.uid and first.metadata.creation_timestamp
    assert patched.metadata.uid == first.metadata.uid


def test_a_write_that_changes_nothing_keeps_the_resource_version(
    kube_api: KubeAPI, team: str
) -> None:
    core = kube_api.core_v1()
    created = core.create_namespaced_secret(team, {"metadata": {"name": "a", "labels": {"x": "y"}}})
    same = core.patch_namespaced_secret("a", team, {"metadata": {"labels": {"x": "y"}}})
    assert same.metadata.resource_version == created.metadata.resource_version
    assert len(kube_api.versions("v1/secrets", team, "a")) == 1


def test_generation_counts_spec_changes_only(kube_api: KubeAPI, team: str) -> None:
    api = kube_api.custom_objects()
    created = api.create_namespaced_custom_object(
        GROUP, VERSION, team, "serviceaccountbindings", binding()
    )
    api.patch_namespaced_custom_object_status(
        GROUP, VERSION, team, "serviceaccountbindings", "api", {"status": {"ttl": 60}}
    )
    api.patch_namespaced_custom_object(
        GROUP, VERSION, team, "serviceaccountbindings", "api", {"metadata": {"labels": {"a": "b"}}}
    )
    after_meta = api.get_namespaced_custom_object(
        GROUP, VERSION, team, "serviceaccountbindings", "api"
    )
    api.patch_namespaced_custom_object(
        GROUP, VERSION, team, "serviceaccountbindings", "api", {"spec": {"ttl": 120}}
    )
    after_spec = api.get_namespaced_custom_object(
        GROUP, VERSION, team, "serviceaccountbindings", "api"
    )

    assert created["metadata"]["generation"] == 1
    assert after_meta["metadata"]["generation"] == 1
    assert after_spec["metadata"]["generation"] == 2


def test_stale_replace_is_a_409_conflict(kube_api: KubeAPI, team: str) -> None:
    core = kube_api.core_v1()
    stale = core.create_namespaced_secret(team, {"metadata": {"name": "a"}})
    core.patch_namespaced_secret("a", team, {"metadata": {"labels": {"edited": "yes"}}})

    with pytest.raises(ApiException) as caught:
        core.replace_namespaced_secret("a", team, stale)

    assert caught.value.status == 409
    assert status_of(caught.value)["kind"] == "Status"
    assert status_of(caught.value)["reason"] == "Conflict"
    assert kube_api.get("v1/secrets", team, "a")["metadata"]["labels"] == {"edited": "yes"}


def test_merge_patch_carrying_a_stale_resource_version_is_a_409(
    kube_api: KubeAPI, team: str
) -> None:
    api = kube_api.custom_objects()
    api.create_namespaced_custom_object(GROUP, VERSION, team, "serviceaccountbindings", binding())
    api.patch_namespaced_custom_object(
        GROUP, VERSION, team, "serviceaccountbindings", "api", {"spec": {"ttl": 5}}
    )
    with pytest.raises(ApiException) as caught:
        api.patch_namespaced_custom_object(
            GROUP,
            VERSION,
            team,
            "serviceaccountbindings",
            "api",
            {"metadata": {"resourceVersion": "1"}, "spec": {"ttl": 9}},
        )
    assert (caught.value.status, status_of(caught.value)["reason"]) == (409, "Conflict")


def test_json_patch_with_a_failing_resource_version_test_is_refused(
    kube_api: KubeAPI, team: str
) -> None:
    # The real API server answers 422 here (kopf retries on exactly that), not 409.
    kube_api.core_v1().create_namespaced_secret(team, {"metadata": {"name": "a"}})
    ops = [
        {"op": "test", "path": "/metadata/resourceVersion", "value": "1"},
        {"op": "add", "path": "/metadata/finalizers", "value": ["x/y"]},
    ]
    response = kube_api.api_client().rest_client.pool_manager.request(
        "PATCH",
        f"{kube_api.url}/api/v1/namespaces/{team}/secrets/a",
        body=json.dumps(ops),
        headers={"Content-Type": "application/json-patch+json"},
    )
    assert response.status == 422
    assert json.loads(response.data)["reason"] == "Invalid"
    assert "finalizers" not in kube_api.get("v1/secrets", team, "a")["metadata"]


def test_creating_an_existing_name_is_409_already_exists(kube_api: KubeAPI, team: str) -> None:
    core = kube_api.core_v1()
    core.create_namespaced_secret(team, {"metadata": {"name": "a"}, "stringData": {"k": "one"}})
    with pytest.raises(ApiException) as caught:
        core.create_namespaced_secret(team, {"metadata": {"name": "a"}, "stringData": {"k": "two"}})
    assert (caught.value.status, status_of(caught.value)["reason"]) == (409, "AlreadyExists")
    assert kube_api.get("v1/secrets", team, "a")["data"] == {"k": "b25l"}


def test_missing_objects_are_404_status_objects(kube_api: KubeAPI, team: str) -> None:
    with pytest.raises(ApiException) as caught:
        kube_api.core_v1().read_namespaced_secret("nope", team)
    body = status_of(caught.value)
    assert (caught.value.status, body["kind"], body["reason"]) == (404, "Status", "NotFound")
    assert body["details"]["name"] == "nope"


def test_status_sent_to_the_main_resource_is_ignored(kube_api: KubeAPI, team: str) -> None:
    api = kube_api.custom_objects()
    api.create_namespaced_custom_object(
        GROUP, VERSION, team, "serviceaccountbindings", {**binding(), "status": {"ttl": 1}}
    )
    api.patch_namespaced_custom_object(
        GROUP,
        VERSION,
        team,
        "serviceaccountbindings",
        "api",
        {"spec": {"ttl": 7}, "status": {"ttl": 2}},
    )
    stored = kube_api.get(BINDINGS, team, "api")
    assert "status" not in stored
    assert stored["spec"]["ttl"] == 7


def test_the_status_subresource_ignores_everything_but_status(kube_api: KubeAPI, team: str) -> None:
    api = kube_api.custom_objects()
    api.create_namespaced_custom_object(GROUP, VERSION, team, "serviceaccountbindings", binding())
    api.patch_namespaced_custom_object_status(
        GROUP,
        VERSION,
        team,
        "serviceaccountbindings",
        "api",
        {"spec": {"ttl": 99}, "metadata": {"labels": {"a": "b"}}, "status": {"ttl": 3}},
    )
    stored = kube_api.get(BINDINGS, team, "api")
    assert stored["status"] == {"ttl": 3}
    assert "ttl" not in stored["spec"]
    assert "labels" not in stored["metadata"]


def test_resources_without_a_status_subresource_have_no_status_endpoint(
    kube_api: KubeAPI, team: str
) -> None:
    core = kube_api.core_v1()
    core.create_namespaced_secret(team, {"metadata": {"name": "a"}})
    response = kube_api.api_client().rest_client.pool_manager.request(
        "GET", f"{kube_api.url}/api/v1/namespaces/{team}/secrets/a/status"
    )
    assert response.status == 404


def test_crd_schemas_prune_unknown_fields_and_apply_defaults(kube_api: KubeAPI, team: str) -> None:
    api = kube_api.custom_objects()
    created = api.create_namespaced_custom_object(
        GROUP, VERSION, team, "serviceaccountbindings", binding(unknown="dropped")
    )
    api.patch_namespaced_custom_object_status(
        GROUP,
        VERSION,
        team,
        "serviceaccountbindings",
        "api",
        {"status": {"kopf": {"x": 1}, "ttl": 5}},
    )
    assert "unknown" not in created["spec"]
    assert created["spec"]["secret"]["keys"]["token"] == "token"
    assert kube_api.get(BINDINGS, team, "api")["status"] == {"ttl": 5}


def test_deleting_an_object_with_finalizers_marks_it_until_they_are_removed(
    kube_api: KubeAPI, team: str
) -> None:
    core = kube_api.core_v1()
    core.create_namespaced_secret(team, {"metadata": {"name": "a", "finalizers": ["x/y"]}})
    core.delete_namespaced_secret("a", team)
    marked = kube_api.get("v1/secrets", team, "a")
    assert marked["metadata"]["deletionTimestamp"]

    with pytest.raises(ApiException) as caught:
        core.patch_namespaced_secret("a", team, {"metadata": {"finalizers": ["x/y", "new/one"]}})
    assert caught.value.status == 422

    core.patch_namespaced_secret("a", team, {"metadata": {"finalizers": None}})
    assert kube_api.get("v1/secrets", team, "a") is None


def test_delete_preconditions_protect_a_replaced_object(kube_api: KubeAPI, team: str) -> None:
    core = kube_api.core_v1()
    old = core.create_namespaced_secret(team, {"metadata": {"name": "a"}})
    core.delete_namespaced_secret("a", team)
    core.create_namespaced_secret(team, {"metadata": {"name": "a"}})
    with pytest.raises(ApiException) as caught:
        core.delete_namespaced_secret("a", team, body={"preconditions": {"uid": old.metadata.uid}})
    assert caught.value.status == 409
    assert kube_api.get("v1/secrets", team, "a") is not None


def test_namespaced_writes_need_a_live_namespace(kube_api: KubeAPI) -> None:
    core = kube_api.core_v1()
    with pytest.raises(ApiException) as missing:
        core.create_namespaced_secret("nowhere", {"metadata": {"name": "a"}})
    kube_api.ensure_namespace("leaving")
    core.create_namespaced_secret("leaving", {"metadata": {"name": "kept"}})
    core.delete_namespace("leaving")
    with pytest.raises(ApiException) as terminating:
        core.create_namespaced_secret("leaving", {"metadata": {"name": "a"}})

    assert missing.value.status == 404
    assert terminating.value.status == 403
    assert "being terminated" in status_of(terminating.value)["message"]
    assert kube_api.get("v1/namespaces", None, "leaving")["status"]["phase"] == "Terminating"
    assert kube_api.finish_namespace_termination("leaving") is True
    assert kube_api.get("v1/secrets", "leaving", "kept") is None


def test_secrets_fold_string_data_and_check_keys(kube_api: KubeAPI, team: str) -> None:
    core = kube_api.core_v1()
    created = core.create_namespaced_secret(
        team, {"metadata": {"name": "a"}, "stringData": {"k": "v"}}
    )
    with pytest.raises(ApiException) as bad_key:
        core.create_namespaced_secret(
            team, {"metadata": {"name": "b"}, "data": {"no/slash": "dg=="}}
        )
    with pytest.raises(ApiException) as new_type:
        core.patch_namespaced_secret("a", team, {"type": "kubernetes.io/tls"})

    assert (created.data, created.type) == ({"k": "dg=="}, "Opaque")
    assert "stringData" not in kube_api.get("v1/secrets", team, "a")
    assert bad_key.value.status == 422
    assert new_type.value.status == 422


def test_watch_streams_changes_and_resumes_from_a_resource_version(
    kube_api: KubeAPI, team: str
) -> None:
    core = kube_api.core_v1()
    core.create_namespaced_secret(team, {"metadata": {"name": "a", "labels": {"app": "x"}}})
    listed = core.list_namespaced_secret(team)
    core.patch_namespaced_secret("a", team, {"metadata": {"annotations": {"n": "1"}}})
    core.create_namespaced_secret(team, {"metadata": {"name": "other"}})
    core.delete_namespaced_secret("a", team)

    events = [
        (event["type"], event["object"].metadata.name)
        for event in watch.Watch().stream(
            core.list_namespaced_secret,
            team,
            label_selector="app=x",
            resource_version=listed.metadata.resource_version,
            timeout_seconds=1,
        )
    ]
    assert events == [("MODIFIED", "a"), ("DELETED", "a")]


def test_watch_without_a_resource_version_starts_with_what_exists(
    kube_api: KubeAPI, team: str
) -> None:
    core = kube_api.core_v1()
    core.create_namespaced_secret(team, {"metadata": {"name": "a"}})
    events = [
        (e["type"], e["object"].metadata.name)
        for e in watch.Watch().stream(core.list_namespaced_secret, team, timeout_seconds=1)
    ]
    assert events == [("ADDED", "a")]


def test_the_request_log_records_what_rbac_needs(kube_api: KubeAPI, team: str) -> None:
    core = kube_api.core_v1()
    api = kube_api.custom_objects()
    kube_api.clear_calls()
    core.create_namespaced_secret(team, {"metadata": {"name": "a"}})
    core.list_secret_for_all_namespaces()
    api.create_namespaced_custom_object(GROUP, VERSION, team, "serviceaccountbindings", binding())
    api.patch_namespaced_custom_object_status(
        GROUP, VERSION, team, "serviceaccountbindings", "api", {"status": {"ttl": 1}}
    )
    with pytest.raises(ApiException):
        core.read_namespaced_secret("missing", team)

    assert kube_api.rbac_rules() == {
        ("", "secrets", "create", True),
        ("", "secrets", "list", False),
        (GROUP, "serviceaccountbindings", "create", True),
        (GROUP, "serviceaccountbindings/status", "patch", True),
        ("", "secrets", "get", True),
    }
    assert ("", "secrets", "get", True) not in kube_api.rbac_rules(succeeded_only=True)


def test_token_requests_return_verifiable_service_account_jwts(
    kube_api: KubeAPI, team: str
) -> None:
    core = kube_api.core_v1()
    core.create_namespaced_service_account(team, {"metadata": {"name": "app"}})
    issued = core.create_namespaced_service_account_token(
        "app", team, {"spec": {"audiences": ["sts.amazonaws.com"], "expirationSeconds": 900}}
    )

    key = jwt.PyJWKSet.from_dict(kube_api.emulator.signer.jwks()).keys[0].key
    claims = jwt.decode(
        issued.status.token, key, algorithms=["RS256"], audience="sts.amazonaws.com"
    )
    assert claims["sub"] == f"system:serviceaccount:{team}:app"
    assert claims["exp"] - claims["iat"] == 900
    with pytest.raises(ApiException) as missing:
        core.create_namespaced_service_account_token("ghost", team, {"spec": {}})
    assert missing.value.status == 404


def test_a_refusal_overrides_the_api_and_changes_nothing(kube_api: KubeAPI, team: str) -> None:
    kube_api.refuse(f"post /api/v1/namespaces/{team}/secrets", 500, "InternalError",
                    "etcd is sad", times=1)
    core = kube_api.core_v1()

    with pytest.raises(ApiException) as caught:
        core.create_namespaced_secret(team, {"metadata": {"name": "a"}})
    assert (caught.value.status, status_of(caught.value)["message"]) == (500, "etcd is sad")
    assert kube_api.get("v1/secrets", team, "a") is None
    core.create_namespaced_secret(team, {"metadata": {"name": "a"}})  # only the first one failed
    assert kube_api.get("v1/secrets", team, "a") is not None


def test_interference_lands_between_a_read_and_the_next_write(kube_api: KubeAPI, team: str) -> None:
    core = kube_api.core_v1()
    read = core.create_namespaced_secret(team, {"metadata": {"name": "a"}})
    kube_api.interfere(
        f"put /api/v1/namespaces/{team}/secrets/a",
        lambda emulator: emulator.patch_object(
            "v1/secrets", team, "a", {"metadata": {"labels": {"by": "them"}}}
        ),
    )

    with pytest.raises(ApiException) as caught:
        core.replace_namespaced_secret("a", team, read)
    core.replace_namespaced_secret("a", team, core.read_namespaced_secret("a", team))  # once only

    assert caught.value.status == 409
    assert kube_api.get("v1/secrets", team, "a")["metadata"]["labels"] == {"by": "them"}
