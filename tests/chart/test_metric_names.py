"""The chart's alerts and dashboard and the operator agree on metric names."""

from __future__ import annotations

from external_identity.controller.metrics import Metrics

from .monitoring import METRICS

_SUFFIXES = {"counter": ("_total",), "histogram": ("_bucket", "_sum", "_count")}


def _exported() -> set[str]:
    return {
        f"{family.name}{suffix}"
        for family in Metrics().registry.collect()
        for suffix in _SUFFIXES.get(family.type, ("",))
    }


def test_every_metric_the_operator_exports_is_one_the_chart_knows() -> None:
    """A metric renamed in the operator fails here, before alerts and panels go blank."""
    exported = _exported()
    assert {"external_identity_exchanges_total", "external_identity_bindings_ready"} <= exported
    assert sorted(exported - METRICS) == []


def test_every_metric_the_alerts_and_dashboard_use_is_exported() -> None:
    """A panel or alert on a metric the operator never exports would stay silent forever."""
    assert sorted(METRICS - _exported()) == []
