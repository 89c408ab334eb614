"""The optional Grafana dashboard ConfigMap: rendered only when asked, found by Grafana's
sidecar, and a well-formed dashboard whose queries are valid PromQL over the operator's
own metrics only."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pytest

from .conftest import CHART
from .monitoring import (
    DASHBOARD_KEY,
    HISTOGRAMS,
    METRICS,
    Promtool,
    metric_names,
)
from .rendering import RELEASE_NAMESPACE, Manifests, Renderer

ENABLED = {"metrics": {"grafanaDashboard": {"enabled": True}}}
DASHBOARD_FILE = CHART / "dashboards" / "external-identity-operator.json"
PANEL_TYPES = {"stat", "timeseries", "table", "bargauge", "gauge", "text", "row"}
BUILTIN_VARIABLES = {"__rate_interval", "__interval", "__range"}
_VARIABLE = re.compile(r"\$\{?(\w+)")
_LABEL_VALUES = re.compile(r"^label_values\((?P<series>.+),\s*(?P<label>\w+)\)$")


def _dashboard_values(**values: Any) -> dict[str, Any]:
    return {"metrics": {"grafanaDashboard": {"enabled": True, **values}}}


def _config_map(manifests: Manifests) -> dict[str, Any]:
    (found,) = [
        obj for obj in manifests.of_kind("ConfigMap") if DASHBOARD_KEY in obj.get("data", {})
    ]
    return found


def _dashboard(manifests: Manifests) -> dict[str, Any]:
    loaded: dict[str, Any] = json.loads(_config_map(manifests)["data"][DASHBOARD_KEY])
    return loaded


def _targets(dashboard: dict[str, Any]) -> list[dict[str, Any]]:
    return [target for panel in dashboard["panels"] for target in panel.get("targets", [])]


def _variable_queries(dashboard: dict[str, Any]) -> list[str]:
    return [
        variable["query"]["query"]
        for variable in dashboard["templating"]["list"]
        if variable["type"] == "query"
    ]


def _as_promql(expr: str) -> str:
    """A panel query with Grafana's variables replaced the way Grafana would."""
    expr = expr.replace("$__rate_interval", "5m")
    return _VARIABLE.sub(".+", expr)


@pytest.fixture(scope="session")
def dashboard(render: Renderer) -> dict[str, Any]:
    return _dashboard(render(ENABLED))


def test_nothing_is_rendered_by_default(render: Renderer) -> None:
    assert not any(DASHBOARD_KEY in obj.get("data", {}) for obj in render().of_kind("ConfigMap"))


def test_the_config_map_is_labelled_for_grafanas_sidecar(render: Renderer) -> None:
    config_map = _config_map(render(ENABLED))
    assert config_map["metadata"]["namespace"] == RELEASE_NAMESPACE
    assert config_map["metadata"]["labels"]["grafana_dashboard"] == "1"
    assert config_map["metadata"]["labels"]["app.kubernetes.io/instance"] == "eio"
    assert "annotations" not in config_map["metadata"]


def test_the_config_map_holds_the_charts_dashboard_file(dashboard: dict[str, Any]) -> None:
    assert dashboard == json.loads(DASHBOARD_FILE.read_text())


def test_namespace_labels_and_annotations_come_from_values(render: Renderer) -> None:
    config_map = _config_map(
        render(
            _dashboard_values(
                namespace="monitoring",
                labels={"grafana_dashboard": "external", "team": "platform"},
                annotations={"grafana_folder": "Identity"},
            )
        )
    )
    assert config_map["metadata"]["namespace"] == "monitoring"
    assert config_map["metadata"]["labels"]["grafana_dashboard"] == "external"
    assert config_map["metadata"]["labels"]["team"] == "platform"
    assert config_map["metadata"]["annotations"] == {"grafana_folder": "Identity"}


def test_the_dashboard_is_well_formed(dashboard: dict[str, Any]) -> None:
    assert dashboard["uid"] == "external-identity-operator"
    assert dashboard["title"]
    assert isinstance(dashboard["schemaVersion"], int)
    ids = [panel["id"] for panel in dashboard["panels"]]
    assert len(ids) == len(set(ids))
    cells: set[tuple[int, int]] = set()
    for panel in dashboard["panels"]:
        assert panel["type"] in PANEL_TYPES, panel["title"]
        assert panel["title"]
        assert panel["datasource"] == {"type": "prometheus", "uid": "${datasource}"}
        grid = panel["gridPos"]
        assert grid["x"] >= 0 and grid["w"] > 0 and grid["x"] + grid["w"] <= 24, panel["title"]
        panel_cells = {
            (x, y)
            for x in range(grid["x"], grid["x"] + grid["w"])
            for y in range(grid["y"], grid["y"] + grid["h"])
        }
        assert not panel_cells & cells, f"{panel['title']} overlaps another panel"
        cells |= panel_cells
        ref_ids = [target["refId"] for target in panel["targets"]]
        assert ref_ids and len(ref_ids) == len(set(ref_ids)), panel["title"]
        assert all(target["expr"].strip() for target in panel["targets"]), panel["title"]


def test_every_variable_a_query_uses_is_defined(dashboard: dict[str, Any]) -> None:
    defined = {variable["name"] for variable in dashboard["templating"]["list"]}
    assert {"datasource", "job", "namespace"} <= defined
    texts = [target["expr"] for target in _targets(dashboard)] + _variable_queries(dashboard)
    used = {name for text in texts for name in _VARIABLE.findall(text)}
    assert used <= defined | BUILTIN_VARIABLES
    assert "job" in used


def test_every_query_is_valid_promql(
    dashboard: dict[str, Any], promtool: Promtool, tmp_path: Path
) -> None:
    exprs = [_as_promql(target["expr"]) for target in _targets(dashboard)]
    for query in _variable_queries(dashboard):
        match = _LABEL_VALUES.match(query)
        assert match, query
        exprs.append(_as_promql(match["series"]))
    rules = [{"record": f"dashboard:query_{i}", "expr": expr} for i, expr in enumerate(exprs)]
    result = promtool.check_rules([{"name": "dashboard", "rules": rules}], tmp_path)
    assert result.returncode == 0, result.stdout + result.stderr


def test_queries_use_only_the_operators_metrics(dashboard: dict[str, Any]) -> None:
    used: set[str] = set()
    for target in _targets(dashboard):
        names = metric_names(target["expr"])
        assert names, target["expr"]
        assert names <= METRICS, f"{target['expr']} queries {sorted(names - METRICS)}"
        used |= names
    for query in _variable_queries(dashboard):
        match = _LABEL_VALUES.match(query)
        assert match
        assert metric_names(match["series"]) <= METRICS
    unused = {name for name in METRICS if not name.endswith(("_sum", "_count"))} - used
    assert not unused, f"no panel shows {sorted(unused)}"


def _panel(dashboard: dict[str, Any], title: str) -> dict[str, Any]:
    found: list[dict[str, Any]] = [p for p in dashboard["panels"] if p["title"] == title]
    assert len(found) == 1, title
    return found[0]


def test_expiry_headroom_is_shown_per_binding(dashboard: dict[str, Any]) -> None:
    for title in ("Token expiry headroom per binding", "Headroom as a share of the TTL"):
        (target,) = _panel(dashboard, title)["targets"]
        assert "external_identity_token_expiry_timestamp_seconds" in target["expr"]
        assert "- time()" in target["expr"]
        assert "by (namespace, binding)" in target["expr"]
        assert target["legendFormat"] == "{{namespace}}/{{binding}}"
    (share,) = _panel(dashboard, "Headroom as a share of the TTL")["targets"]
    assert "/ external_identity_token_ttl_seconds" in share["expr"]


def test_ready_is_shown_against_total(dashboard: dict[str, Any]) -> None:
    exprs = [target["expr"] for target in _panel(dashboard, "Ready vs total bindings")["targets"]]
    assert [metric_names(expr) for expr in exprs] == [
        {"external_identity_bindings"},
        {"external_identity_bindings_ready"},
    ]


def test_exchange_latency_shows_p50_and_p95(dashboard: dict[str, Any]) -> None:
    (histogram,) = HISTOGRAMS
    targets = _panel(dashboard, "Exchange latency (p50, p95)")["targets"]
    quantiles = [re.match(r"histogram_quantile\((0\.\d+),", target["expr"]) for target in targets]
    assert [match[1] for match in quantiles if match] == ["0.5", "0.95"]
    assert all(f"{histogram}_bucket" in target["expr"] for target in targets)
    assert all("by (le, provider)" in target["expr"] for target in targets)


def test_refresh_outcomes_and_secret_writes_are_broken_down(dashboard: dict[str, Any]) -> None:
    (outcomes,) = _panel(dashboard, "Bindings by last refresh outcome")["targets"]
    assert outcomes["expr"].startswith("count by (reason) (external_identity_last_refresh_outcome")
    (failed,) = _panel(dashboard, "Bindings whose last refresh failed")["targets"]
    assert 'reason!="TokenIssued"' in failed["expr"]
    (writes,) = _panel(dashboard, "Secret writes")["targets"]
    assert "sum by (operation, result)" in writes["expr"]
