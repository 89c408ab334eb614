"""Prometheus metrics, in a registry of the operator's own (no globals)."""

from __future__ import annotations

from collections.abc import Hashable

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, start_http_server

__all__ = ["Metrics", "ReadyBindings"]


class ReadyBindings:
    """Which bindings are Ready; the gauge reads the count, so it is right after a restart."""

    def __init__(self, gauge: Gauge) -> None:
        self._ready: set[Hashable] = set()
        gauge.set_function(lambda: len(self._ready))

    def mark(self, key: Hashable, ready: bool) -> None:
        if ready:
            self._ready.add(key)
        else:
            self._ready.discard(key)

    def forget(self, key: Hashable) -> None:
        self._ready.discard(key)

    def __len__(self) -> int:
        return len(self._ready)


class Metrics:
    def __init__(self) -> None:
        self.registry = CollectorRegistry()
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
        self.ready_bindings = ReadyBindings(
            Gauge(
                "external_identity_bindings_ready",
                "Bindings whose Ready condition is True.",
                registry=self.registry,
            )
        )

    def serve(self, port: int) -> None:
        start_http_server(port, registry=self.registry)
