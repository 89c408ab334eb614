"""What any Prometheus client exports, and the release, read from the real operator's /metrics."""

from __future__ import annotations

import platform
import re
import time
from collections.abc import Callable

import httpx
import pytest
from support.operator import OperatorProcess

from external_identity import __version__
from tests.operator.harness import free_port, wait_for

pytestmark = pytest.mark.usefixtures("loopback_only")

_SAMPLE = re.compile(r"^(?P<name>[a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{(?P<labels>.*)\})? (?P<value>\S+)$")
_LABEL = re.compile(r'(\w+)="((?:[^"\\]|\\.)*)"')

Samples = dict[str, list[tuple[dict[str, str], float]]]


def _scrape(port: int) -> Samples | None:
    """Every sample on /metrics by name, with its labels; None while nothing answers."""
    try:
        text = httpx.get(f"http://127.0.0.1:{port}/metrics", timeout=5).text
    except httpx.HTTPError:
        return None
    samples: Samples = {}
    for line in text.splitlines():
        match = _SAMPLE.match(line)
        if match and not line.startswith("#"):
            labels = dict(_LABEL.findall(match["labels"] or ""))
            samples.setdefault(match["name"], []).append((labels, float(match["value"])))
    return samples


def test_metrics_name_the_release_and_show_the_process_and_runtime(
    start_operator: Callable[..., OperatorProcess],
) -> None:
    port = free_port()
    started = time.time()
    start_operator("--metrics-port", str(port))
    samples = wait_for(lambda: _scrape(port), message="the metrics endpoint")

    assert samples["external_identity_build_info"] == [
        ({"version": __version__, "python_version": platform.python_version()}, 1.0)
    ]
    ((_, start_time),) = samples["process_start_time_seconds"]
    assert started - 5 <= start_time <= time.time() + 1, "the operator process's own start"
    ((_, resident),) = samples["process_resident_memory_bytes"]
    assert resident > 10_000_000, "a Python process with kopf and the clients loaded"
    assert samples["process_cpu_seconds_total"][0][1] > 0
    assert samples["process_open_fds"][0][1] > 0
    ((info, _),) = samples["python_info"]
    assert info["version"] == platform.python_version()
    assert {labels["generation"] for labels, _ in samples["python_gc_collections_total"]} == {
        "0", "1", "2"}
