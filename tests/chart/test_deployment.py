"""The operator Deployment: hardening, probes, command line, replicas and disruption budget."""

from __future__ import annotations

import pytest

from .conftest import CHART
from .rendering import RELEASE_NAMESPACE, Renderer, variant_files

VARIANTS = [None, *variant_files(CHART)]
HEALTH = "--liveness=http://0.0.0.0:8080/healthz"


@pytest.mark.parametrize("variant", VARIANTS, ids=lambda v: v or "defaults")
def test_the_pod_runs_hardened_in_every_variant(render: Renderer, variant: str | None) -> None:
    manifests = render(variant=variant)
    pod = manifests.deployment["spec"]["template"]["spec"]
    assert pod["securityContext"] == {
        "runAsNonRoot": True,
        "runAsUser": 10001,
        "runAsGroup": 10001,
        "fsGroup": 10001,
        "seccompProfile": {"type": "RuntimeDefault"},
    }
    context = manifests.container["securityContext"]
    assert context["runAsNonRoot"] is True
    assert context["runAsUser"] == 10001
    assert context["readOnlyRootFilesystem"] is True
    assert context["allowPrivilegeEscalation"] is False
    assert context["privileged"] is False
    assert context["capabilities"] == {"drop": ["ALL"]}
    assert context["seccompProfile"] == {"type": "RuntimeDefault"}


def test_tmp_is_a_writable_empty_dir(render: Renderer) -> None:
    manifests = render()
    [mount] = manifests.container["volumeMounts"]
    assert mount["mountPath"] == "/tmp"
    volumes = {v["name"]: v for v in manifests.deployment["spec"]["template"]["spec"]["volumes"]}
    assert volumes[mount["name"]]["emptyDir"] == {"sizeLimit": "64Mi"}


def test_resources_have_requests_and_limits(render: Renderer) -> None:
    resources = render().container["resources"]
    assert set(resources["requests"]) == {"cpu", "memory"}
    assert set(resources["limits"]) == {"cpu", "memory"}


def test_liveness_and_readiness_probe_kopfs_health_endpoint(render: Renderer) -> None:
    manifests = render()
    ports = {port["name"]: port["containerPort"] for port in manifests.container["ports"]}
    assert ports == {"health": 8080, "metrics": 9090}
    for probe in ("livenessProbe", "readinessProbe"):
        http = manifests.container[probe]["httpGet"]
        assert http == {"path": "/healthz", "port": "health"}
    assert HEALTH in manifests.args


def test_the_probe_endpoint_follows_its_values(render: Renderer) -> None:
    manifests = render({"probes": {"port": 8081, "path": "/livez"}})
    assert "--liveness=http://0.0.0.0:8081/livez" in manifests.args
    assert manifests.container["livenessProbe"]["httpGet"]["path"] == "/livez"
    assert {"name": "health", "containerPort": 8081, "protocol": "TCP"} in manifests.container[
        "ports"
    ]


def test_default_command_line(render: Renderer) -> None:
    assert render().args == [
        HEALTH,
        "--metrics-port=9090",
        f"--operator-name={RELEASE_NAMESPACE}/eio-external-identity-operator",
        "--all-namespaces",
        "--log-level=INFO",
        "--log-format=json",
        "--refresh-percent=67",
        "--min-remaining-seconds=10",
        "--max-concurrent-exchanges=16",
    ]


def test_refresh_settings_follow_their_values(render: Renderer) -> None:
    args = render({"operator": {"refreshPercent": 43, "minRemainingSeconds": 123}}).args
    assert [arg for arg in args if arg.startswith(("--refresh-percent", "--min-remaining"))] == [
        "--refresh-percent=43",
        "--min-remaining-seconds=123",
    ]


def test_a_zero_safety_margin_is_passed_not_dropped(render: Renderer) -> None:
    assert "--min-remaining-seconds=0" in render({"operator": {"minRemainingSeconds": 0}}).args


def test_the_old_safety_margin_flag_is_gone(render: Renderer) -> None:
    for variant in VARIANTS:
        args = render(variant=variant).args
        assert not [arg for arg in args if arg.startswith("--safety-margin")], variant


def test_the_image_defaults_to_the_app_version(render: Renderer) -> None:
    manifests = render()
    assert manifests.container["image"] == "external-identity-operator:0.1.0"
    assert manifests.container["imagePullPolicy"] == "IfNotPresent"
    assert "command" not in manifests.container  # the image's ENTRYPOINT runs `run`


def test_watch_namespaces_become_repeated_namespace_flags(render: Renderer) -> None:
    args = render(variant="namespaces").args
    assert [arg for arg in args if arg.startswith("--namespace")] == [
        "--namespace=a",
        "--namespace=b",
    ]
    assert "--all-namespaces" not in args


def test_each_release_names_its_operator_by_namespace_and_fullname(render: Renderer) -> None:
    """Its entry in each identity's status.operators: shared by the release's replicas, apart
    from any other release's (a shard) even under the same release name elsewhere."""
    assert f"--operator-name={RELEASE_NAMESPACE}/eio-external-identity-operator" in render().args
    named = render({"fullnameOverride": "shard-a"}).args
    assert f"--operator-name={RELEASE_NAMESPACE}/shard-a" in named


def test_one_replica_runs_standalone_without_a_disruption_budget(render: Renderer) -> None:
    manifests = render()
    assert manifests.deployment["spec"]["replicas"] == 1
    assert not [arg for arg in manifests.args if arg.startswith(("--peering", "--priority"))]
    assert manifests.deployment["spec"]["strategy"] == {"type": "Recreate"}
    assert manifests.of_kind("PodDisruptionBudget") == []
    assert manifests.of_kind("ClusterKopfPeering") == []


def test_replicas_peer_through_kopf_and_get_a_disruption_budget(render: Renderer) -> None:
    manifests = render(variant="ha")
    assert manifests.deployment["spec"]["replicas"] == 3
    assert "--peering=eio-external-identity-operator" in manifests.args
    assert manifests.deployment["spec"]["strategy"]["type"] == "RollingUpdate"
    budget = manifests.one("PodDisruptionBudget")
    assert budget["spec"]["minAvailable"] == 1
    assert budget["spec"]["selector"]["matchLabels"].items() <= (
        manifests.deployment["spec"]["template"]["metadata"]["labels"].items()
    )
    peering = manifests.one("ClusterKopfPeering")
    assert peering["metadata"]["name"] == "eio-external-identity-operator"


def test_namespaced_replicas_get_a_peering_object_in_each_namespace(render: Renderer) -> None:
    manifests = render(variant="namespaces-ha")
    assert manifests.of_kind("ClusterKopfPeering") == []
    peerings = manifests.of_kind("KopfPeering")
    assert sorted(p["metadata"]["namespace"] for p in peerings) == ["a", "b"]
    assert {p["metadata"]["name"] for p in peerings} == {"eio-external-identity-operator"}


def test_the_peering_name_can_be_chosen(render: Renderer) -> None:
    manifests = render({"replicaCount": 2, "peering": {"name": "identity"}})
    assert "--peering=identity" in manifests.args
    assert manifests.one("ClusterKopfPeering")["metadata"]["name"] == "identity"


def test_every_pod_has_its_own_kopf_identity(render: Renderer) -> None:
    env = {e["name"]: e for e in render(variant="ha").container["env"]}
    assert env["POD_ID"]["valueFrom"]["fieldRef"]["fieldPath"] == "metadata.name"


def test_customised_values_reach_the_pod(render: Renderer) -> None:
    manifests = render(variant="customised")
    pod = manifests.deployment["spec"]["template"]
    spec = pod["spec"]
    assert manifests.container["image"] == (
        "registry.example.com/platform/external-identity-operator:0.1.0-rc1"
    )
    assert manifests.container["imagePullPolicy"] == "Always"
    assert spec["imagePullSecrets"] == [{"name": "regcred"}]
    assert spec["serviceAccountName"] == "eio-operator"
    assert spec["priorityClassName"] == "system-cluster-critical"
    assert spec["nodeSelector"] == {"kubernetes.io/os": "linux"}
    assert spec["tolerations"][0]["key"] == "dedicated"
    assert "nodeAffinity" in spec["affinity"]
    assert pod["metadata"]["annotations"] == {"example.com/scrape": "false"}
    assert pod["metadata"]["labels"]["example.com/tier"] == "platform"
    env = {e["name"]: e.get("value") for e in manifests.container["env"]}
    assert env["HTTPS_PROXY"] == "http://proxy.example.com:3128"
    assert manifests.args[-6:] == [
        "--log-level=DEBUG",
        "--log-format=plain",
        "--refresh-percent=50",
        "--min-remaining-seconds=30",
        "--max-concurrent-exchanges=32",
        "--backoff-cap=120",
    ]
    assert manifests.deployment["metadata"]["name"] == "eio"


def test_an_image_digest_is_used_as_a_digest(render: Renderer) -> None:
    digest = "sha256:" + "a" * 64
    manifests = render(
        {"image": {"repository": "r/eio", "tag": digest, "pullPolicy": "IfNotPresent"}}
    )
    assert manifests.container["image"] == f"r/eio@{digest}"


def test_the_aws_region_is_passed_to_the_sdk(render: Renderer) -> None:
    env = {e["name"]: e.get("value") for e in render(variant="irsa").container["env"]}
    assert env["AWS_REGION"] == env["AWS_DEFAULT_REGION"] == "eu-west-1"
    assert "AWS_REGION" not in {e["name"] for e in render().container["env"]}


def test_replicas_serving_a_namespace_pattern_peer_cluster_wide(render: Renderer) -> None:
    manifests = render({"replicaCount": 2, "watchNamespaces": ["payments", "team-*"]})
    assert manifests.of_kind("KopfPeering") == []
    peering = manifests.one("ClusterKopfPeering")
    assert peering["metadata"]["name"] == "eio-external-identity-operator"
    assert "--peering=eio-external-identity-operator" in manifests.args
    assert [arg for arg in manifests.args if arg.startswith("--namespace")] == [
        "--namespace=payments",
        "--namespace=team-*",
    ]
