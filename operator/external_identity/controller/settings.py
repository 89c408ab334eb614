"""Operator-wide settings, from ``external-identity run`` flags. Pure data."""

from __future__ import annotations

from dataclasses import dataclass, field

__all__ = ["OperatorSettings"]


@dataclass(frozen=True)
class OperatorSettings:
    #: Namespaces to watch; empty means cluster-wide.
    namespaces: tuple[str, ...] = ()
    #: Default point of the granted TTL at which to refresh (a binding may override).
    refresh_fraction: float = 2 / 3
    #: Up to this fraction of the lifetime is taken off the refresh time at random.
    jitter_fraction: float = 0.05
    #: Default minimum time left on a token when it is refreshed (a binding may override).
    safety_margin_seconds: float = 10.0
    #: Bound on concurrent exchanges toward the token services.
    max_concurrent_exchanges: int = 16
    #: Transient failures: exponential backoff from ``backoff_base`` up to ``backoff_cap``.
    backoff_base_seconds: float = 2.0
    backoff_cap_seconds: float = 300.0
    #: Permanent failures (the token service said no): retry this slowly.
    permanent_retry_seconds: float = 600.0
    #: Threads for blocking Kubernetes client calls.
    kubernetes_threads: int = 16
    metrics_port: int | None = None
    extra_labels: dict[str, str] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if not 0.1 <= self.refresh_fraction <= 0.95:
            raise ValueError("refresh fraction must be between 0.1 and 0.95")
        if not 0 <= self.jitter_fraction <= 0.5:
            raise ValueError("jitter fraction must be between 0 and 0.5")
        if self.max_concurrent_exchanges < 1:
            raise ValueError("max concurrent exchanges must be at least 1")
        if self.backoff_base_seconds <= 0 or self.backoff_cap_seconds < self.backoff_base_seconds:
            raise ValueError("backoff cap must be at least the (positive) backoff base")
