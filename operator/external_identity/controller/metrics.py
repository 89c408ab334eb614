"""Prometheus metrics, in a registry of the operator's own (no globals).

Per-binding series (token expiry, TTL, last outcome) are written through a handle per binding
(:class:`BindingSeries`) that forgetting the binding closes: they go with the binding, and
nothing a step still in flight writes brings them back. Expiry and TTL say what the binding's
Secret holds (see the reconciler), from before its first step on. The binding and Ready counts
are read from the fleet when scraped (see :meth:`Metrics.count_bindings`), so both are right
after a restart and never drift.

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

__all__ = ["BindingMetrics", "BindingSeries", "Metrics"]

BindingKey = tuple[str, str]  # (namespace, name)


class BindingMetrics:
    """What each binding holds and how its last attempt went, written through one
    :class:`BindingSeries` per binding."""

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

    def series(self, key: BindingKey) -> BindingSeries:
        """The binding's series, written until the handle is closed."""
        return BindingSeries(key, expiry=self._expiry, ttl=self._ttl, outcome=self._outcome)


class BindingSeries:
    """One binding's series. :meth:`close` removes them, and every later write does nothing:
    a step still running when its binding is forgotten cannot bring them back, nor remove
    those of a binding re-created under the same name."""

    def __init__(self, key: BindingKey, *, expiry: Gauge, ttl: Gauge, outcome: Gauge) -> None:
        self._key = key
        self._expiry, self._ttl, self._outcome = expiry, ttl, outcome
        self._reason: str | None = None
        self._closed = False

    @property
    def closed(self) -> bool:
        return self._closed

    def holds(self, *, issued_at: datetime, expires_at: datetime) -> None:
        """The binding's Secret holds a token with this lifetime."""
        if self._closed:
            return
        self._expiry.labels(*self._key).set(expires_at.timestamp())
        self._ttl.labels(*self._key).set((expires_at - issued_at).total_seconds())

    def holds_nothing(self) -> None:
        if not self._closed:
            self._drop_holdings()

    def attempted(self, reason: str) -> None:
        if self._closed or self._reason == reason:
            return
        self._drop_outcome()
        self._reason = reason
        self._outcome.labels(*self._key, reason).set(1)

    def close(self) -> None:
        """The binding is forgotten: remove its series, and write none from now on."""
        if not self._closed:
            self._closed = True
            self._drop_holdings()
            self._drop_outcome()

    def _drop_holdings(self) -> None:
        for gauge in (self._expiry, self._ttl):
            with contextlib.suppress(KeyError):
                gauge.remove(*self._key)

    def _drop_outcome(self) -> None:
        reason, self._reason = self._reason, None
        if reason is not None:
            with contextlib.suppress(KeyError):
                self._outcome.remove(*self._key, reason)


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
