"""The real kopf, in-process, against the emulator: create, status, owned Secret, finalizers."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import kubernetes
import pytest
import support.kube
from support.kube.fixtures import KubeAPI, pointing_at

OPERATOR = Path(support.kube.__file__).with_name("selftest_operator.py")
BINDINGS = "externalidentity.dev/v1alpha1/serviceaccountbindings"
FINALIZER = "selftest.externalidentity.dev/cleanup"


def binding(name: str, namespace: str) -> dict[str, Any]:
    return {
        "apiVersion": "externalidentity.dev/v1alpha1",
        "kind": "ServiceAccountBinding",
        "metadata": {"name": name, "namespace": namespace},
        "spec": {
            "externalIdentityRef": {"name": "prod-aws"},
            "serviceAccountId": "0f1a2b3c-4d5e-6789-abcd-ef0123456789",
            "secret": {"name": f"{name}-token"},
        },
    }


def create_binding(kube_api: KubeAPI, name: str, namespace: str) -> None:
    kube_api.ensure_namespace(namespace)
    kube_api.custom_objects().create_namespaced_custom_object(
        "externalidentity.dev",
        "v1alpha1",
        namespace,
        "serviceaccountbindings",
        binding(name, namespace),
    )


def test_kopf_handles_a_binding_from_creation_to_deletion(
    kube_api: KubeAPI, run_operator: Any
) -> None:
    with run_operator(paths=[OPERATOR]) as runner:
        create_binding(kube_api, "payments-api", "payments")

        secret = kube_api.wait_for(
            lambda: kube_api.get("v1/secrets", "payments", "payments-api-token"),
            message="the owned Secret",
        )
        stored = kube_api.wait_for(
            lambda: (
                (obj := kube_api.get(BINDINGS, "payments", "payments-api"))
                and obj.get("status", {}).get("secretName")
                and obj
            ),
            message="the status patch",
        )
        assert stored["status"] == {"secretName": "payments-api-token", "observedGeneration": 1}
        assert FINALIZER in stored["metadata"]["finalizers"]
        assert secret["metadata"]["ownerReferences"] == [
            {
                "apiVersion": "externalidentity.dev/v1alpha1",
                "kind": "ServiceAccountBinding",
                "name": "payments-api",
                "uid": stored["metadata"]["uid"],
                "controller": True,
                "blockOwnerDeletion": True,
            }
        ]

        kube_api.custom_objects().delete_namespaced_custom_object(
            "externalidentity.dev",
            "v1alpha1",
            "payments",
            "serviceaccountbindings",
            "payments-api",
        )
        kube_api.wait_for(
            lambda: kube_api.get(BINDINGS, "payments", "payments-api") is None,
            message="the finalizer to be released",
        )
        assert kube_api.get("v1/secrets", "payments", "payments-api-token") is None

    assert runner.exit_code == 0
    history = [v for v in kube_api.versions(BINDINGS, "payments", "payments-api") if v]
    assert history[-1]["metadata"].get("deletionTimestamp")  # deleted only after the handler ran
    assert FINALIZER in history[-1]["metadata"]["finalizers"]
    events = kube_api.select("v1/events", "payments")
    assert [(e["reason"], e["involvedObject"]["name"]) for e in events] == [
        ("SecretCreated", "payments-api")
    ]


def test_kopf_patches_status_through_the_status_subresource(
    kube_api: KubeAPI, run_operator: Any
) -> None:
    with run_operator(paths=[OPERATOR]):
        create_binding(kube_api, "api", "team")
        kube_api.wait_for(lambda: (kube_api.get(BINDINGS, "team", "api") or {}).get("status"))

    patches = {(call.verb, call.rbac_resource) for call in kube_api.calls() if call.status < 400}
    assert ("patch", "serviceaccountbindings/status") in patches
    assert ("patch", "serviceaccountbindings") in patches  # finalizer and annotations
    assert ("watch", "serviceaccountbindings") in patches


@pytest.mark.parametrize("args", [["--namespace", "team", "--standalone"]])
def test_kopf_runs_namespace_restricted(
    kube_api: KubeAPI, run_operator: Any, args: list[str]
) -> None:
    kube_api.ensure_namespace("team")
    with run_operator(paths=[OPERATOR], args=args):
        create_binding(kube_api, "api", "team")
        kube_api.wait_for(lambda: kube_api.get("v1/secrets", "team", "api-token"))

    watched = {call.path for call in kube_api.calls() if call.verb == "watch"}
    assert "/apis/externalidentity.dev/v1alpha1/namespaces/team/serviceaccountbindings" in watched


def test_kopf_logs_in_to_the_emulator_through_the_kubeconfig(
    kube_api: KubeAPI, run_operator: Any
) -> None:
    with run_operator(paths=[OPERATOR]):
        create_binding(kube_api, "api", "team")
        kube_api.wait_for(lambda: kube_api.get("v1/secrets", "team", "api-token"))

    agents = kube_api.call(lambda: {r.headers.get("User-Agent", "") for r in kube_api.emulator})
    assert any(agent.startswith("kopf/") for agent in agents)
    assert kubernetes.client.Configuration.get_default_copy().host != kube_api.url  # restored


def test_pointing_at_hides_any_other_cluster(
    kube_api: KubeAPI, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    elsewhere = tmp_path / "real-cluster"
    elsewhere.write_text(json.dumps({
        "apiVersion": "v1", "kind": "Config", "current-context": "real",
        "clusters": [{"name": "real", "cluster": {"server": "https://real.example:6443"}}],
        "users": [{"name": "real", "user": {"token": "t"}}],
        "contexts": [{"name": "real", "context": {"cluster": "real", "user": "real"}}],
    }))
    # As if ~/.kube/config were a real cluster and the tests ran inside a pod.
    location = "KUBE_CONFIG_DEFAULT_LOCATION"
    monkeypatch.setattr(kubernetes.config.kube_config, location, str(elsewhere))
    monkeypatch.setenv("KUBERNETES_SERVICE_HOST", "10.0.0.1")

    with pointing_at(kube_api):
        inside = kubernetes.client.Configuration()
        kubernetes.config.load_kube_config(client_configuration=inside)
        assert "KUBERNETES_SERVICE_HOST" not in os.environ
    outside = kubernetes.client.Configuration()
    kubernetes.config.load_kube_config(client_configuration=outside)

    assert inside.host == kube_api.url
    assert outside.host == "https://real.example:6443"


def test_kopf_peering_works_against_the_emulator(kube_api: KubeAPI, run_operator: Any) -> None:
    peerings = "kopf.dev/v1/clusterkopfpeerings"
    kube_api.create({"apiVersion": "kopf.dev/v1", "kind": "ClusterKopfPeering",
                     "metadata": {"name": "default"}})
    with run_operator(paths=[OPERATOR], args=["--all-namespaces"]):
        peers = kube_api.wait_for(
            lambda: (kube_api.get(peerings, None, "default") or {}).get("status"),
            message="kopf to announce itself",
        )
        assert len(peers) == 1

    assert kube_api.get(peerings, None, "default")["status"] == {}  # and to leave on exit
