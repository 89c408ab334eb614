"""The chart's PrometheusRule and Grafana dashboard, and Prometheus's own ``promtool``.

``promtool`` comes from $PROMTOOL, ``.tools/bin/promtool``, $PATH, or
``tools/install-promtool.sh`` (which unpacks it from Debian's ``prometheus`` package).
Without it the monitoring tests fail: they are the only check of the alert rules.
"""

from __future__ import annotations

import functools
import re
import shutil
import subprocess
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import yaml

from .binaries import find_binary
from .rendering import Manifests

__all__ = [
    "DASHBOARD_KEY",
    "HISTOGRAMS",
    "JOB",
    "METRICS",
    "PROMTOOL_TESTS",
    "Promtool",
    "alerts",
    "find_promtool",
    "metric_names",
    "rule_groups",
]

PROMTOOL_TESTS = Path(__file__).resolve().parent / "promtool"
JOB = "eio-external-identity-operator-metrics"
DASHBOARD_KEY = "external-identity-operator.json"

#: Every metric the operator exports, by the name Prometheus stores (issue 10).
HISTOGRAMS = frozenset({"external_identity_exchange_duration_seconds"})
METRICS = frozenset(
    {
        "external_identity_token_expiry_timestamp_seconds",
        "external_identity_token_ttl_seconds",
        "external_identity_last_refresh_outcome",
        "external_identity_exchanges_total",
        "external_identity_secret_writes_total",
        "external_identity_bindings",
        "external_identity_bindings_ready",
        "external_identity_credential_refreshes_total",
        *(f"{name}{suffix}" for name in HISTOGRAMS for suffix in ("_bucket", "_sum", "_count")),
    }
)

_STRING = re.compile(r'"(?:[^"\\]|\\.)*"')
_MATCHERS = re.compile(r"\{[^{}]*\}")
_RANGE = re.compile(r"\[[^\]]*\]")
_GROUPING = re.compile(r"\b(?:by|without|on|ignoring|group_left|group_right)\s*\([^)]*\)")
_TOKEN = re.compile(
    r"(?P<number>\d+(?:\.\d+)?(?:e[+-]?\d+)?(?:ms|s|m|h|d|w|y)?)"
    r"|(?P<name>[a-zA-Z_:][a-zA-Z0-9_:]*)(?P<call>\s*\()?"
)
_KEYWORDS = frozenset(
    {"and", "or", "unless", "bool", "offset", "by", "without", "on", "ignoring", "inf", "nan"}
)


def metric_names(expr: str) -> set[str]:
    """Names of the series a PromQL expression selects (functions and label names aside)."""
    text = _STRING.sub('""', expr)
    text = _MATCHERS.sub(" ", text)
    text = _RANGE.sub(" ", text)
    text = _GROUPING.sub(" ", text)
    names = set()
    for token in _TOKEN.finditer(text):
        name = token["name"]
        if name and not token["call"] and name.lower() not in _KEYWORDS:
            names.add(name)
    return names


def rule_groups(manifests: Manifests) -> list[dict[str, Any]]:
    """The rule groups of the chart's one PrometheusRule, as a Prometheus rule file holds them."""
    (rule,) = manifests.of_kind("PrometheusRule")
    groups: list[dict[str, Any]] = rule["spec"]["groups"]
    return groups


def alerts(manifests: Manifests) -> dict[str, dict[str, Any]]:
    return {rule["alert"]: rule for group in rule_groups(manifests) for rule in group["rules"]}


class Promtool:
    """Runs ``promtool check rules`` and ``promtool test rules`` on rendered rule groups."""

    def __init__(self, binary: str) -> None:
        self.binary = binary

    def run(self, *args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [self.binary, *args], capture_output=True, text=True, timeout=120, check=False, cwd=cwd
        )

    def check_rules(
        self, groups: list[dict[str, Any]], workdir: Path
    ) -> subprocess.CompletedProcess[str]:
        _write_rules(groups, workdir)
        return self.run("check", "rules", "rules.yaml", cwd=workdir)

    def test_rules(
        self, groups: list[dict[str, Any]], tests: Iterable[Path], workdir: Path
    ) -> subprocess.CompletedProcess[str]:
        """Unit tests (promtool's format, ``rule_files: [rules.yaml]``) against the groups."""
        _write_rules(groups, workdir)
        names = []
        for test in tests:
            shutil.copy(test, workdir / test.name)
            names.append(test.name)
        return self.run("test", "rules", *names, cwd=workdir)


def _write_rules(groups: list[dict[str, Any]], workdir: Path) -> None:
    (workdir / "rules.yaml").write_text(yaml.safe_dump({"groups": groups}, sort_keys=False))


@functools.cache
def find_promtool() -> tuple[str | None, str]:
    """A working promtool, installing it if need be; else None and why."""
    return find_binary(
        "promtool",
        env_var="PROMTOOL",
        version_args=("--version",),
        installer="tools/install-promtool.sh",
    )
