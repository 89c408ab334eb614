"""The chart's alerts and dashboard and the operator agree on metric names."""

from __future__ import annotations

import sys

from external_identity.controller.metrics import Metrics

from .monitoring import METRICS

_SUFFIXES = {"counter": ("_total",), "histogram": ("_bucket", "_sum", "_count")}
#: Exported, but for any Prometheus client's process and runtime panels (and joins on the
#: release), not the chart's own alerts and dashboard.
STANDARD = frozenset({
    "process_virtual_memory_bytes",
    "process_resident_memory_bytes",
    "process_start_time_seconds",
    "process_cpu_seconds_total",
    "process_open_fds",
    "process_max_fds",
    "python_info",
    "python_gc_objects_collected_total",
    "python_gc_objects_uncollectable_total",
    "python_gc_collections_total",
    "external_identity_build_info",
})


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
    assert sorted(exported - METRICS - STANDARD) == []


def test_the_process_runtime_and_build_metrics_are_exported() -> None:
    """Standard dashboards (process memory, CPU, file descriptors) and release joins work."""
    expected = STANDARD if sys.platform == "linux" else {  # process_* read /proc
        name for name in STANDARD if not name.startswith("process_")}
    assert sorted(expected - _exported()) == []


def test_every_metric_the_alerts_and_dashboard_use_is_exported() -> None:
    """A panel or alert on a metric the operator never exports would stay silent forever."""
    assert sorted(METRICS - _exported()) == []
