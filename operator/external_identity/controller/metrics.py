"""Prometheus metrics, in a registry of the operator's own (no globals)."""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, start_http_server

__all__ = ["Metrics"]


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
        self.bindings_ready = Gauge(
            "external_identity_bindings_ready",
            "Bindings whose Ready condition is True.",
            registry=self.registry,
        )

    def serve(self, port: int) -> None:
        start_http_server(port, registry=self.registry)
