"""Prometheus metrics, in a registry of the operator's own (no globals).

Per-binding series (token expiry, TTL, last outcome) are removed when the binding is, and the
binding and Ready counts are read from the fleet when scraped (see :meth:`Metrics.count_bindings`),
so both are right after a restart and never drift.

The registry also holds what every Prometheus client exports by default: the process
(``process_*``: CPU, memory, open file descriptors, start time), the Python runtime
(``python_info``) and its garbage collector (``python_gc_*``); and
``external_identity_build_info{version, python_version}``, always 1, to tell which release runs.
"""

from __future__ import annotations

import contextlib
import platform
from collections.abc import Callable, Iterator, Mapping
from datetime import datetime

from prometheus_client import (
    CollectorRegistry,
    Counter,
    Gauge,
    GCCollector,
    Histogram,
    PlatformCollector,
    ProcessCollector,
    start_http_server,
)
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.registry import Collector

from external_identity import __version__

__all__ = ["BindingMetrics", "Metrics"]

BindingKey = tuple[str, str]  # (namespace, name)


class BindingMetrics:
    """What each binding holds and how its last attempt went."""

    def __init__(self, registry: CollectorRegistry) -> None:
        self._expiry = Gauge(
            "external_identity_token_expiry_timestamp_seconds",
            "When the token in the binding's Secret expires (Unix time).",
            ["namespace", "binding"], registry=registry,
        )
        self._ttl = Gauge(
            "external_identity_token_ttl_seconds",
            "The lifetime the token in the binding's Secret was granted.",
            ["namespace", "binding"], registry=registry,
        )
        self._outcome = Gauge(
            "external_identity_last_refresh_outcome",
            "1 for the reason of the binding's last attempt (TokenIssued, or why it failed).",
            ["namespace", "binding", "reason"], registry=registry,
        )
        self._reasons: dict[BindingKey, str] = {}

    def holds(self, key: BindingKey, *, issued_at: datetime, expires_at: datetime) -> None:
        """The binding's Secret holds a token with this lifetime."""
        self._expiry.labels(*key).set(expires_at.timestamp())
        self._ttl.labels(*key).set((expires_at - issued_at).total_seconds())

    def holds_nothing(self, key: BindingKey) -> None:
        for gauge in (self._expiry, self._ttl):
            with contextlib.suppress(KeyError):
                gauge.remove(*key)

    def attempted(self, key: BindingKey, reason: str) -> None:
        previous = self._reasons.get(key)
        if previous == reason:
            return
        if previous is not None:
            self._outcome.remove(*key, previous)
        self._reasons[key] = reason
        self._outcome.labels(*key, reason).set(1)

    def forget(self, key: BindingKey) -> None:
        self.holds_nothing(key)
        previous = self._reasons.pop(key, None)
        if previous is not None:
            self._outcome.remove(*key, previous)


class _DeferredCollector(Collector):
    def __init__(self, deferred: Callable[[], Mapping[str, int]]) -> None:
        self._deferred = deferred

    def collect(self) -> Iterator[GaugeMetricFamily]:
        family = GaugeMetricFamily(
            "external_identity_bindings_deferred",
            "Bindings this operator keeps but leaves to another operator, by that operator: "
            "their scopes overlap and the other registered first.",
            labels=["operator"],
        )
        for operator, count in sorted(self._deferred().items()):
            family.add_metric([operator], float(count))
        yield family


class Metrics:
    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        ProcessCollector(registry=self.registry)
        PlatformCollector(registry=self.registry)
        GCCollector(registry=self.registry)
        Gauge(
            "external_identity_build_info",
            "The operator's release and Python version; always 1.",
            ["version", "python_version"],
            registry=self.registry,
        ).labels(__version__, platform.python_version()).set(1)
        self.exchanges = Counter(
            "external_identity_exchanges",
            "Token exchanges by provider and outcome (a condition reason).",
            ["provider", "outcome"],
            registry=self.registry,
        )
        self.exchange_seconds = Histogram(
            "external_identity_exchange_duration_seconds",
            "Time from building the proof to receiving the token.",
            ["provider"],
            registry=self.registry,
        )
        self.secret_writes = Counter(
            "external_identity_secret_writes",
            "Writes of token Secrets by operation (create, replace, delete) and result.",
            ["operation", "result"],
            registry=self.registry,
        )
        self.credential_refreshes = Counter(
            "external_identity_credential_refreshes",
            "Per-workload credentials fetched: Kubernetes TokenRequests and STS "
            "AssumeRoleWithWebIdentity calls.",
            ["source"],
            registry=self.registry,
        )
        self.bindings = BindingMetrics(self.registry)
        self._binding_count = Gauge(
            "external_identity_bindings",
            "Bindings this operator keeps.",
            registry=self.registry,
        )
        self._ready_count = Gauge(
            "external_identity_bindings_ready",
            "Bindings whose Ready condition is True.",
            registry=self.registry,
        )

    def count_bindings(self, *, kept: Callable[[], int], ready: Callable[[], int]) -> None:
        """Read both counts from where they are decided (the fleet), at every scrape."""
        self._binding_count.set_function(lambda: float(kept()))
        self._ready_count.set_function(lambda: float(ready()))

    def count_deferred(self, deferred: Callable[[], Mapping[str, int]]) -> None:
        """``external_identity_bindings_deferred{operator}``: bindings this operator leaves to
        another whose scope overlaps its own, read from ``deferred`` at every scrape."""
        self.registry.register(_DeferredCollector(deferred))

    def serve(self, port: int) -> None:
        start_http_server(port, registry=self.registry)
