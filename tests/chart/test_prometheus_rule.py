"""The optional PrometheusRule: promtool accepts it, its alerts fire when they should and only
then (tests/chart/promtool/*.yaml, promtool's unit-test format), and its values take effect."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest
import yaml

from .conftest import REPO
from .monitoring import (
    JOB,
    METRICS,
    PROMTOOL_TESTS,
    Promtool,
    alerts,
    metric_names,
    rule_groups,
)
from .rendering import RELEASE_NAMESPACE, Renderer, RenderError

ENABLED = {"metrics": {"prometheusRule": {"enabled": True}}}
ALERTS = {
    "ExternalIdentityTokenExpiringSoon": ("tokenExpiringSoon", "1m", "critical"),
    "ExternalIdentityExchangesFailing": ("exchangesFailing", "15m", "warning"),
    "ExternalIdentityNoReadyBindings": ("noReadyBindings", "10m", "critical"),
    "ExternalIdentityOperatorDown": ("operatorDown", "5m", "critical"),
}
UNIT_TESTS = sorted(PROMTOOL_TESTS.glob("*.yaml"))


def _rule(**values: Any) -> dict[str, Any]:
    return {"metrics": {"prometheusRule": {"enabled": True, **values}}}


def test_nothing_is_rendered_by_default(render: Renderer) -> None:
    assert render().of_kind("PrometheusRule") == []


def test_enabled_renders_one_rule_in_the_release_namespace(render: Renderer) -> None:
    (rule,) = render(ENABLED).of_kind("PrometheusRule")
    assert rule["apiVersion"] == "monitoring.coreos.com/v1"
    assert rule["metadata"]["namespace"] == RELEASE_NAMESPACE
    assert rule["metadata"]["labels"]["app.kubernetes.io/instance"] == "eio"
    assert sorted(alerts(render(ENABLED))) == sorted(ALERTS)


def test_promtool_checks_the_rendered_rules(
    render: Renderer, promtool: Promtool, tmp_path: Path
) -> None:
    result = promtool.check_rules(rule_groups(render(ENABLED)), tmp_path)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "SUCCESS: 4 rules found" in result.stdout


def test_promtool_refuses_a_broken_rule(promtool: Promtool, tmp_path: Path) -> None:
    broken = [{"name": "g", "rules": [{"alert": "A", "expr": "sum by (job (up)"}]}]
    assert promtool.check_rules(broken, tmp_path).returncode != 0


@pytest.mark.parametrize("unit_test", UNIT_TESTS, ids=lambda path: path.stem)
def test_the_alert_unit_tests_pass_against_the_rendered_rules(
    render: Renderer, promtool: Promtool, tmp_path: Path, unit_test: Path
) -> None:
    groups = rule_groups(render(ENABLED))
    result = promtool.test_rules(groups, [unit_test], tmp_path)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "SUCCESS" in result.stdout


@pytest.mark.parametrize("alert", ALERTS)
def test_every_alert_has_a_unit_test_where_it_fires_and_one_where_it_does_not(alert: str) -> None:
    fires, silent = False, False
    for path in UNIT_TESTS:
        for case in yaml.safe_load(path.read_text())["tests"]:
            for check in case.get("alert_rule_test", []):
                if check["alertname"] == alert:
                    fires |= bool(check["exp_alerts"])
                    silent |= not check["exp_alerts"]
    assert fires and silent


def test_the_unit_tests_fail_when_an_alert_misbehaves(
    render: Renderer, promtool: Promtool, tmp_path: Path
) -> None:
    groups = rule_groups(render(ENABLED))
    for rule in groups[0]["rules"]:
        if rule["alert"] == "ExternalIdentityTokenExpiringSoon":
            rule["expr"] = rule["expr"].replace("0.1 *", "0.05 *")
    result = promtool.test_rules(groups, [PROMTOOL_TESTS / "token-expiring-soon.yaml"], tmp_path)
    assert result.returncode != 0
    assert "ExternalIdentityTokenExpiringSoon" in result.stdout + result.stderr


@pytest.mark.parametrize("alert", ALERTS)
def test_alerts_query_only_the_operators_metrics_and_its_up_series(
    render: Renderer, alert: str
) -> None:
    names = metric_names(alerts(render(ENABLED))[alert]["expr"])
    assert names
    assert names <= METRICS | {"up"}


def test_metric_names_are_found_past_functions_labels_and_durations() -> None:
    expr = (
        'sum by (job, le) (rate(a_total{job="x",le=~"1|2"}[5m] offset 15m)) > 0.1\n'
        "unless on (job) histogram_quantile(0.5, b_bucket) or absent(up == 1) and c:rec"
    )
    assert metric_names(expr) == {"a_total", "b_bucket", "up", "c:rec"}


@pytest.mark.parametrize("alert", ALERTS)
def test_defaults_for_each_alert(render: Renderer, alert: str) -> None:
    _, duration, severity = ALERTS[alert]
    rule = alerts(render(ENABLED))[alert]
    assert rule["for"] == duration
    assert rule["labels"] == {"severity": severity}
    assert f'job="{JOB}"' in rule["expr"]
    assert set(rule["annotations"]) == {"summary", "description"}
    assert f'"{alert}" entry under "Alerts"' in rule["annotations"]["description"]


@pytest.mark.parametrize("alert", ALERTS)
def test_for_and_severity_come_from_values(render: Renderer, alert: str) -> None:
    key = ALERTS[alert][0]
    rules = alerts(render(_rule(**{key: {"for": "42m", "severity": "page"}})))
    assert rules[alert]["for"] == "42m"
    assert rules[alert]["labels"]["severity"] == "page"
    for other, (_, duration, severity) in ALERTS.items():
        if other != alert:
            assert (rules[other]["for"], rules[other]["labels"]["severity"]) == (duration, severity)


def test_alert_labels_go_on_every_alert(render: Renderer) -> None:
    rules = alerts(render(_rule(alertLabels={"team": "platform", "pager": "identity"})))
    for alert, rule in rules.items():
        assert rule["labels"] == {
            "severity": ALERTS[alert][2],
            "team": "platform",
            "pager": "identity",
        }


def test_rule_labels_go_on_the_prometheus_rule(render: Renderer) -> None:
    (rule,) = render(_rule(labels={"release": "prometheus"})).of_kind("PrometheusRule")
    assert rule["metadata"]["labels"]["release"] == "prometheus"


def test_the_runbook_url_points_each_alert_at_its_readme_entry(render: Renderer) -> None:
    base = "https://git.example.com/eio/README.md"
    for alert, rule in alerts(render(_rule(runbookUrl=base))).items():
        assert rule["annotations"]["runbook_url"] == f"{base}#{alert.lower()}"


@pytest.mark.parametrize("alert", ALERTS)
def test_the_readme_has_the_runbook_entry_each_alert_links_to(alert: str) -> None:
    readme = (REPO / "README.md").read_text()
    alerts_section = readme.split("\n## Alerts\n", 1)[1].split("\n## ", 1)[0]
    assert re.search(rf"^### {alert}$", alerts_section, re.MULTILINE)


def test_a_custom_selector_scopes_every_alert(
    render: Renderer, promtool: Promtool, tmp_path: Path
) -> None:
    selector = 'namespace="identity-system",service="eio-metrics"'
    manifests = render(_rule(selector=selector))
    for rule in alerts(manifests).values():
        assert JOB not in rule["expr"]
        assert rule["expr"].count(selector) >= 1
    # The default job is up, the selected target is down: the alert follows the selector.
    (tmp_path / "in").mkdir()
    unit_test = tmp_path / "in" / "selector.yaml"
    unit_test.write_text(
        yaml.safe_dump(
            {
                "rule_files": ["rules.yaml"],
                "evaluation_interval": "1m",
                "tests": [
                    {
                        "interval": "1m",
                        "input_series": [
                            {"series": f'up{{job="{JOB}"}}', "values": "1x10"},
                            {"series": f"up{{{selector}}}", "values": "0x10"},
                        ],
                        "promql_expr_test": [
                            {
                                "expr": 'ALERTS{alertname="ExternalIdentityOperatorDown"}',
                                "eval_time": "6m",
                                "exp_samples": [
                                    {
                                        "labels": 'ALERTS{alertname="ExternalIdentityOperatorDown",'
                                        'alertstate="firing",severity="critical"}',
                                        "value": 1,
                                    }
                                ],
                            }
                        ],
                    }
                ],
            }
        )
    )
    groups = rule_groups(manifests)
    result = promtool.test_rules(groups, [unit_test], tmp_path)
    assert result.returncode == 0, result.stdout + result.stderr


BAD_VALUES = {
    "for not a duration": (_rule(operatorDown={"for": "5 minutes", "severity": "x"}), "for"),
    "empty severity": (_rule(noReadyBindings={"for": "5m", "severity": ""}), "severity"),
    "selector with braces": (_rule(selector='{job="x"}'), "selector"),
    "runbook not a URL": (_rule(runbookUrl="README.md#alerts"), "runbookUrl"),
    "alert label not a label name": (_rule(alertLabels={"team-name": "x"}), "team-name"),
    "unknown key": (_rule(severity="critical"), "severity"),
}


@pytest.mark.parametrize("values, where", BAD_VALUES.values(), ids=BAD_VALUES.keys())
def test_helm_refuses_bad_rule_values(render: Renderer, values: dict[str, Any], where: str) -> None:
    with pytest.raises(RenderError) as refused:
        render.template(values)
    assert "schema" in str(refused.value)
    assert where in str(refused.value)


def test_the_service_monitor_keeps_the_bindings_namespace_label(render: Renderer) -> None:
    monitor = render(variant="service-monitor").one("ServiceMonitor")
    assert [endpoint["honorLabels"] for endpoint in monitor["spec"]["endpoints"]] == [True]


def test_the_documented_monitoring_example_renders_rule_monitor_and_dashboard(
    render: Renderer,
) -> None:
    manifests = render(variant="monitoring")
    (rule,) = manifests.of_kind("PrometheusRule")
    assert rule["metadata"]["labels"]["release"] == "prometheus"
    assert manifests.one("ServiceMonitor")["metadata"]["labels"]["release"] == "prometheus"
    rules = alerts(manifests)
    assert rules["ExternalIdentityExchangesFailing"]["for"] == "30m"
    assert all(rule["labels"]["team"] == "platform" for rule in rules.values())
    assert all(rule["annotations"]["runbook_url"].startswith("https://") for rule in rules.values())
    assert [
        obj["metadata"]["annotations"]
        for obj in manifests.of_kind("ConfigMap")
        if obj["metadata"]["labels"].get("grafana_dashboard") == "1"
    ] == [{"grafana_folder": "Identity"}]
