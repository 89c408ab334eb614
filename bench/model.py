"""What the bench passes around: options, seeded bindings, measured figures. Pure data, no I/O."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

GROUP_VERSION = "externalidentity.dev/v1alpha1"
BINDINGS = f"{GROUP_VERSION}/serviceaccountbindings"
SECRETS = "v1/secrets"
MIB = 1024 * 1024


class BenchError(Exception):
    """The operator did not get there in time (or died): no figures for this size."""


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


@dataclass(frozen=True)
class Binding:
    namespace: str
    name: str
    secret: str
    #: Each binding has its own token-service account, so issued tokens map back to it.
    account_id: str


@dataclass
class Restart:
    stop_s: float
    resume_s: float
    #: Tokens issued because of the restart (0 means nothing was re-minted).
    exchanges: int
    #: Kubernetes API writes after the restart, by ``verb resource``.
    writes: Counter[str]
    peak_rss: int  # bytes, of the restarted process


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

    @property
    def api_calls_per_exchange(self) -> float:
        return sum(self.api_calls.values()) / max(self.exchanges, 1)


@dataclass
class Figures:
    n: int
    first_ready_s: float
    all_ready_s: float
    peak_rss: int  # bytes
    operator_cpu_s: float
    bench_cpu_s: float
    exchanges: int
    failed_exchanges: int
    api_calls: Counter[str]
    stop_s: float
    restart_s: float
    restart_exchanges: int
    restart_writes: Counter[str]
    restart_peak_rss: int
    refresh: Refresh | None = None
    log_problems: Counter[str] = field(default_factory=Counter)

    @property
    def ms_per_binding(self) -> float:
        return self.all_ready_s * 1000 / self.n

    @property
    def marginal_ms(self) -> float:
        """Per binding after the first was ready: startup taken out."""
        return (self.all_ready_s - self.first_ready_s) * 1000 / max(self.n - 1, 1)
