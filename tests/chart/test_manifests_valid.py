"""Every object the chart renders, in every documented variant, is a valid Kubernetes object."""

from __future__ import annotations

import copy
from typing import Any

import jsonschema
import kubernetes_validate
import pytest

from .conftest import CHART
from .rendering import Manifests, Renderer, variant_files

KUBERNETES_VERSION = "1.30"
VARIANTS = [None, *variant_files(CHART)]
# Kinds kubernetes-validate has no schema for; checked against their CRDs or by shape.
CUSTOM_KINDS = {
    "ClusterKopfPeering", "KopfPeering", "PodMonitor", "PrometheusRule", "ServiceMonitor"
}


def _validate(obj: dict[str, Any]) -> None:
    try:
        kubernetes_validate.validate(obj, KUBERNETES_VERSION, strict=True)
    except kubernetes_validate.ValidationError as error:
        where = "/".join(str(part) for part in error.path)
        pytest.fail(f"{obj['kind']} {obj['metadata']['name']}: {error.message} at {where}")


def _crd_schema(manifests: Manifests, kind: str) -> dict[str, Any]:
    for crd in manifests.of_kind("CustomResourceDefinition"):
        if crd["spec"]["names"]["kind"] == kind:
            return crd["spec"]["versions"][0]["schema"]["openAPIV3Schema"]
    raise AssertionError(f"the chart ships no CRD for {kind}")


def test_the_validator_rejects_an_unknown_field(render: Renderer) -> None:
    deployment = copy.deepcopy(render().deployment)
    deployment["spec"]["template"]["spec"]["containers"][0]["securityContextt"] = {}
    with pytest.raises(kubernetes_validate.ValidationError):
        kubernetes_validate.validate(deployment, KUBERNETES_VERSION, strict=True)


@pytest.mark.parametrize("variant", VARIANTS, ids=lambda v: v or "defaults")
def test_every_rendered_object_validates_against_kubernetes(
    render: Renderer, variant: str | None
) -> None:
    manifests = render(variant=variant, include_crds=True)
    checked = 0
    for obj in manifests.objects:
        if obj["kind"] in CUSTOM_KINDS:
            continue
        _validate(obj)
        checked += 1
    assert checked >= 6


@pytest.mark.parametrize("variant", VARIANTS, ids=lambda v: v or "defaults")
def test_the_chart_passes_helm_lint_strict(render: Renderer, variant: str | None) -> None:
    result = render.lint(variant=variant)
    assert result.returncode == 0, result.stdout + result.stderr


@pytest.mark.parametrize("variant", ["ha", "namespaces-ha"])
def test_peering_objects_match_the_shipped_kopf_crds(render: Renderer, variant: str) -> None:
    manifests = render(variant=variant, include_crds=True)
    peerings = manifests.of_kind("ClusterKopfPeering") + manifests.of_kind("KopfPeering")
    assert peerings
    for peering in peerings:
        assert peering["apiVersion"] == "kopf.dev/v1"
        jsonschema.validate(peering, _crd_schema(manifests, peering["kind"]))


def test_the_service_monitor_scrapes_the_metrics_service(render: Renderer) -> None:
    manifests = render(variant="service-monitor")
    monitor = manifests.one("ServiceMonitor")
    service = manifests.one("Service")
    assert monitor["apiVersion"] == "monitoring.coreos.com/v1"
    assert monitor["metadata"]["labels"]["release"] == "prometheus"
    selector = monitor["spec"]["selector"]["matchLabels"]
    assert selector.items() <= service["metadata"]["labels"].items()
    assert monitor["spec"]["namespaceSelector"]["matchNames"] == [service["metadata"]["namespace"]]
    [endpoint] = monitor["spec"]["endpoints"]
    assert endpoint["port"] in {port["name"] for port in service["spec"]["ports"]}
    assert endpoint["path"] == "/metrics"


def test_no_service_monitor_by_default(render: Renderer) -> None:
    assert render().of_kind("ServiceMonitor") == []


def test_the_metrics_service_targets_the_metrics_port(render: Renderer) -> None:
    manifests = render()
    service = manifests.one("Service")
    [port] = service["spec"]["ports"]
    assert port["port"] == 9090
    container_ports = {p["name"]: p["containerPort"] for p in manifests.container["ports"]}
    assert container_ports[port["targetPort"]] == 9090
    assert service["spec"]["selector"].items() <= (
        manifests.deployment["spec"]["template"]["metadata"]["labels"].items()
    )
