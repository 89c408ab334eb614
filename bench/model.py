"""What the bench passes around: options, seeded bindings, measured figures. Pure data, no I/O."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

GROUP = "externalidentity.dev"
VERSION = "v1alpha1"
GROUP_VERSION = f"{GROUP}/{VERSION}"
BINDINGS = f"{GROUP_VERSION}/serviceaccountbindings"
SECRETS = "v1/secrets"
MIB = 1024 * 1024
#: Label on every namespace and binding the bench creates; its value names the run (cluster
#: mode) or "emulator".
RUN_LABEL = "bench.externalidentity.dev/run"
#: Label telling the operator's bindings from the floor's (``operator`` / ``floor``).
SET_LABEL = "bench.externalidentity.dev/set"
WRITE_VERBS = frozenset({"create", "update", "patch", "delete"})


class BenchError(Exception):
    """A pass did not get there in time, a process died, or the cluster is unusable."""


@dataclass
class Options:
    sizes: list[int]
    ttl: int
    refresh_ttl: int
    timeout: float
    log_level: str
    operator_args: list[str]
    logs: Path | None
    stock_peers: bool
    stock_emulator: bool
    #: The operator's ``--max-concurrent-exchanges``; the floor runs with the same.
    concurrency: int
    #: A real cluster instead of the emulator.
    kubeconfig: Path | None = None


@dataclass(frozen=True)
class Binding:
    namespace: str
    name: str
    secret: str
    #: Each binding has its own token-service account, so issued tokens map back to it.
    account_id: str


@dataclass(frozen=True)
class BindingSet:
    """One program's bindings (the operator's or the floor's), in namespaces of their own."""

    label: str  # "operator" or "floor"
    namespaces: tuple[str, ...]
    bindings: tuple[Binding, ...]
    #: The ExternalIdentity the bindings name (cluster-scoped).
    identity: str


@dataclass
class Issue:
    """One program issuing N bindings' first tokens: from its start to the last Ready."""

    first_ready_s: float
    all_ready_s: float
    peak_rss: int  # bytes (VmHWM)
    cpu_s: float
    #: Kubernetes API requests by ``verb resource[/subresource]``.
    api_calls: Counter[str]
    exchanges: int
    failed_exchanges: int
    #: CPU this (bench) process spent meanwhile: the emulator, the peers, the polling.
    bench_cpu_s: float

    @property
    def api_total(self) -> int:
        return sum(self.api_calls.values())


@dataclass
class Restart:
    stop_s: float
    resume_s: float
    #: Tokens issued because of the restart (0 means nothing was re-minted).
    exchanges: int
    #: Every Kubernetes API request from the restart until it settled, by kind.
    api_calls: Counter[str]
    peak_rss: int  # bytes, of the restarted process

    @property
    def writes(self) -> Counter[str]:
        return Counter(
            {kind: n for kind, n in self.api_calls.items() if kind.split()[0] in WRITE_VERBS}
        )


@dataclass
class Refresh:
    ttl: int
    reconfigure_s: float
    #: When each token was replaced, as a share of its TTL (the operator aims at ~0.62-0.67).
    refreshed_at_share: list[float]
    #: Lifetime left on the old token when its replacement was issued, in seconds.
    min_headroom_s: float
    expired: int
    #: Tokens issued per binding during one lifetime of the re-configured token (1.0 expected).
    exchanges_per_cycle: float
    #: Kubernetes API calls during the pass (re-exchange and refresh), and exchanges made.
    api_calls: Counter[str]
    exchanges: int
    #: Seconds until one binding created during the re-exchange of all others was Ready.
    latecomer_ready_s: float

    @property
    def api_calls_per_exchange(self) -> float:
        return sum(self.api_calls.values()) / max(self.exchanges, 1)


@dataclass
class Figures:
    n: int
    operator: Issue
    floor: Issue
    restart: Restart
    refresh: Refresh | None = None
    log_problems: Counter[str] = field(default_factory=Counter)

    @property
    def marginal_ms(self) -> float:
        """The operator's time per binding after its first was ready: startup taken out."""
        op = self.operator
        return (op.all_ready_s - op.first_ready_s) * 1000 / max(self.n - 1, 1)
