"""Operator-wide settings, from ``external-identity run`` flags. Pure data.

The defaults here are the only ones: the command line shows and uses them as they are.
"""

from __future__ import annotations

from dataclasses import dataclass

from external_identity.controller.shards.scopes import OperatorScope
from external_identity.controller.shards.selectors import parse_selector

__all__ = ["OperatorSettings"]


@dataclass(frozen=True)
class OperatorSettings:
    #: This operator's name in each identity's ``status.operators`` (replicas share it).
    operator_name: str = "external-identity-operator"
    #: How often that entry's heartbeat is rewritten; three missed beats make it stale.
    heartbeat_seconds: float = 60.0
    #: Namespaces to watch; empty means cluster-wide.
    namespaces: tuple[str, ...] = ()
    #: Keep only bindings matching this label selector (one shard of a large cluster).
    binding_selector: str | None = None
    #: Refresh once this percentage of the granted TTL has passed (a binding may override).
    refresh_percent: int = 67
    #: Up to this fraction of the lifetime is taken off the refresh time at random.
    jitter_fraction: float = 0.05
    #: Never refresh later than this many seconds before expiry (a binding may override).
    min_remaining_seconds: float = 10.0
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
    #: How often each identity's credentials are re-checked (a proof, never an exchange).
    identity_probe_seconds: float = 600.0
    #: Watch ServiceAccounts, so per-workload credentials of a deleted or re-annotated one are
    #: dropped at once (needs list and watch on serviceaccounts).
    watch_service_accounts: bool = False
    #: Roll workloads that follow a binding (label and annotation) when its token is rotated
    #: (needs list, watch and patch on deployments, statefulsets and daemonsets).
    restart_on_rotation: bool = False
    #: Restart one workload at most this often; later rotations wait for the interval's end.
    restart_min_interval_seconds: float = 300.0

    def __post_init__(self) -> None:
        if not 10 <= self.refresh_percent <= 95:
            raise ValueError("refresh percent must be between 10 and 95")
        if not 0 <= self.jitter_fraction <= 0.5:
            raise ValueError("jitter fraction must be between 0 and 0.5")
        if self.min_remaining_seconds < 0:
            raise ValueError("minimum remaining seconds must not be negative")
        if self.max_concurrent_exchanges < 1:
            raise ValueError("max concurrent exchanges must be at least 1")
        if self.backoff_base_seconds <= 0 or self.backoff_cap_seconds < self.backoff_base_seconds:
            raise ValueError("backoff cap must be at least the (positive) backoff base")
        if self.identity_probe_seconds <= 0:
            raise ValueError("identity probe interval must be positive")
        if self.permanent_retry_seconds <= 0:
            raise ValueError("permanent retry delay must be positive")
        if self.binding_selector is not None:
            parse_selector(self.binding_selector)
        if not self.operator_name:
            raise ValueError("operator name must not be empty")
        if self.heartbeat_seconds <= 0:
            raise ValueError("heartbeat interval must be positive")
        if self.restart_min_interval_seconds < 0:
            raise ValueError("restart minimum interval must not be negative")

    @property
    def scope(self) -> OperatorScope:
        """The bindings this operator keeps: its namespaces and binding selector."""
        return OperatorScope(self.namespaces, self.binding_selector)
