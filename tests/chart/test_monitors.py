"""metrics.podMonitor and the ServiceMonitor's and PodMonitor's relabelings.

kubernetes-validate has no schema for the Prometheus Operator's kinds, so the monitors are
checked against the fields of its API (monitoring.coreos.com/v1) that the chart writes, with
unknown fields refused: a misspelt ``metricRelabelings`` would be dropped by the API server.
"""

from __future__ import annotations

from typing import Any

import jsonschema
import pytest

from .monitoring import JOB
from .rendering import Manifests, Renderer, RenderError

NODE = {"sourceLabels": ["__meta_kubernetes_pod_node_name"], "targetLabel": "node"}
DROP_GC = {"sourceLabels": ["__name__"], "regex": "python_gc_.*", "action": "drop"}

RELABEL_CONFIG = {
    "type": "object",
    "additionalProperties": False,
    "properties": {
        "sourceLabels": {"type": "array", "items": {"type": "string"}},
        "separator": {"type": "string"},
        "targetLabel": {"type": "string"},
        "regex": {"type": "string"},
        "modulus": {"type": "integer"},
        "replacement": {"type": "string"},
        "action": {"type": "string"},
    },
}


def _endpoint(port_key: str) -> dict[str, Any]:
    return {
        "type": "object",
        "additionalProperties": False,
        "required": [port_key, "path"],
        "properties": {
            port_key: {"type": "string"},
            "path": {"type": "string"},
            "honorLabels": {"type": "boolean"},
            "interval": {"type": "string"},
            "scrapeTimeout": {"type": "string"},
            "relabelings": {"type": "array", "items": RELABEL_CONFIG},
            "metricRelabelings": {"type": "array", "items": RELABEL_CONFIG},
        },
    }


def _monitor(kind: str, endpoints: str) -> dict[str, Any]:
    return {
        "type": "object",
        "required": ["apiVersion", "kind", "metadata", "spec"],
        "properties": {
            "apiVersion": {"const": "monitoring.coreos.com/v1"},
            "kind": {"const": kind},
            "spec": {
                "type": "object",
                "additionalProperties": False,
                "required": ["selector", endpoints],
                "properties": {
                    "selector": {"type": "object"},
                    "namespaceSelector": {"type": "object"},
                    endpoints: {"type": "array", "minItems": 1, "items": _endpoint("port")},
                },
            },
        },
    }


POD_MONITOR = _monitor("PodMonitor", "podMetricsEndpoints")
SERVICE_MONITOR = _monitor("ServiceMonitor", "endpoints")


def _pod_monitor(manifests: Manifests) -> dict[str, Any]:
    monitor = manifests.one("PodMonitor")
    jsonschema.validate(monitor, POD_MONITOR)
    return monitor


def _service_monitor(manifests: Manifests) -> dict[str, Any]:
    monitor = manifests.one("ServiceMonitor")
    jsonschema.validate(monitor, SERVICE_MONITOR)
    return monitor


def test_no_pod_monitor_by_default(render: Renderer) -> None:
    assert render().of_kind("PodMonitor") == []
    assert render(variant="service-monitor").of_kind("PodMonitor") == []


def test_the_pod_monitor_scrapes_the_operator_pods_metrics_port(render: Renderer) -> None:
    manifests = render({"metrics": {"podMonitor": {"enabled": True, "labels": {"release": "p"}}}})
    monitor = _pod_monitor(manifests)
    pod = manifests.deployment["spec"]["template"]
    assert monitor["metadata"]["labels"]["release"] == "p"
    assert monitor["metadata"]["namespace"] == manifests.deployment["metadata"]["namespace"]
    assert monitor["spec"]["selector"]["matchLabels"] == (
        manifests.deployment["spec"]["selector"]["matchLabels"]
    )
    assert monitor["spec"]["selector"]["matchLabels"].items() <= pod["metadata"]["labels"].items()
    assert monitor["spec"]["namespaceSelector"] == {
        "matchNames": [manifests.deployment["metadata"]["namespace"]]
    }
    [endpoint] = monitor["spec"]["podMetricsEndpoints"]
    assert endpoint["port"] in {port["name"] for port in manifests.container["ports"]}
    assert endpoint["path"] == "/metrics"
    assert endpoint["honorLabels"] is True
    assert (endpoint["interval"], endpoint["scrapeTimeout"]) == ("30s", "10s")
    assert "metricRelabelings" not in endpoint
    assert manifests.of_kind("ServiceMonitor") == []


def test_the_pod_monitor_gives_the_series_the_service_monitors_job(render: Renderer) -> None:
    """So the PrometheusRule's default selector (job="<fullname>-metrics") finds them."""
    manifests = render({"metrics": {"podMonitor": {"enabled": True}}})
    [endpoint] = _pod_monitor(manifests)["spec"]["podMetricsEndpoints"]
    assert endpoint["relabelings"] == [
        {"action": "replace", "targetLabel": "job", "replacement": JOB}
    ]
    service = render().one("Service")
    assert service["metadata"]["name"] == JOB  # a ServiceMonitor's job: the Service's name


def test_the_pod_monitor_relabelings_come_after_the_job(render: Renderer) -> None:
    manifests = render(variant="pod-monitor")
    [endpoint] = _pod_monitor(manifests)["spec"]["podMetricsEndpoints"]
    assert endpoint["relabelings"][0]["targetLabel"] == "job"
    assert endpoint["relabelings"][1:] == [NODE]
    assert endpoint["metricRelabelings"] == [DROP_GC]


def test_the_pod_monitor_interval_and_timeout_come_from_values(render: Renderer) -> None:
    manifests = render({"metrics": {"podMonitor": {
        "enabled": True, "interval": "1m", "scrapeTimeout": "20s"}}})
    [endpoint] = _pod_monitor(manifests)["spec"]["podMetricsEndpoints"]
    assert (endpoint["interval"], endpoint["scrapeTimeout"]) == ("1m", "20s")


def test_service_monitor_has_no_relabelings_by_default(render: Renderer) -> None:
    [endpoint] = _service_monitor(
        render({"metrics": {"serviceMonitor": {"enabled": True}}})
    )["spec"]["endpoints"]
    assert "relabelings" not in endpoint
    assert "metricRelabelings" not in endpoint


def test_service_monitor_relabelings_come_from_values(render: Renderer) -> None:
    [endpoint] = _service_monitor(render(variant="service-monitor"))["spec"]["endpoints"]
    assert endpoint["relabelings"] == [NODE]
    assert endpoint["metricRelabelings"] == [DROP_GC]


def test_a_service_monitor_and_a_pod_monitor_together_are_refused(render: Renderer) -> None:
    both = {"metrics": {"serviceMonitor": {"enabled": True}, "podMonitor": {"enabled": True}}}
    with pytest.raises(RenderError) as refused:
        render.template(both)
    assert "metrics.serviceMonitor or metrics.podMonitor, not both" in str(refused.value)


@pytest.mark.parametrize("monitor", ["serviceMonitor", "podMonitor"])
@pytest.mark.parametrize(
    "relabeling, where",
    [
        ({"action": "rename"}, "action"),
        ({"sourceLabel": ["a"]}, "sourceLabel"),
        ({"sourceLabels": ["not-a-label"]}, "sourceLabels/0"),
        ({"modulus": 0}, "modulus"),
        ("drop", "0"),
    ],
)
def test_helm_refuses_bad_relabelings(
    render: Renderer, monitor: str, relabeling: Any, where: str
) -> None:
    for field in ("relabelings", "metricRelabelings"):
        with pytest.raises(RenderError) as refused:
            render.template({"metrics": {monitor: {field: [relabeling]}}})
        assert "schema" in str(refused.value)
        assert f"/metrics/{monitor}/{field}/0" in str(refused.value)
        assert where in str(refused.value)


@pytest.mark.parametrize(
    "values, where",
    [
        ({"metrics": {"podMonitor": {"enabled": "yes"}}}, "/metrics/podMonitor/enabled"),
        ({"metrics": {"podMonitor": {"interval": "30"}}}, "/metrics/podMonitor/interval"),
        ({"metrics": {"podMonitor": {"labels": {"release": 1}}}},
         "/metrics/podMonitor/labels/release"),
        ({"metrics": {"podMonitor": {"port": "metrics"}}}, "port"),
    ],
)
def test_helm_refuses_bad_pod_monitor_values(
    render: Renderer, values: dict[str, Any], where: str
) -> None:
    with pytest.raises(RenderError) as refused:
        render.template(values)
    assert "schema" in str(refused.value)
    assert where in str(refused.value)
