"""`make bench`: how the real operator scales with the number of ServiceAccountBindings.

For each size N (the first is the baseline) this starts, all on 127.0.0.1: a fresh Kubernetes
API emulator, seeds one ExternalIdentity and N bindings straight into its store (no client
overhead), and runs the real operator (``external-identity run``, a separate process, via
:class:`~tests.controller.harness.OperatorProcess`) against it, the Phase-protocol peer and
moto as AWS STS (both shared by every size). It measures

* initial pass: seconds from starting the operator until every binding is Ready=True
  (TokenIssued) and its Secret holds a token; the operator's peak RSS (``VmHWM``) and CPU time;
  token-service requests per binding (1.0 means no duplicate or failed exchanges);
* restart: SIGTERM, start again, seconds until every binding's daemon has read its Secret back
  (resumed), and how many new exchanges the restart caused (0 means nothing was re-minted);
* refresh (``--refresh-ttl``, 0 to skip): every binding's ``spec.ttl`` is lowered to a short
  TTL (one re-exchange each), then one refresh cycle is watched: when each token was replaced
  (as a share of its TTL), the least lifetime left on a token when it was replaced, and whether
  any expired first.

Figures are printed as ratios against the baseline measured in this same run; nothing is
asserted about timings. The emulator and the peers run inside this process, so on a small
machine they compete with the operator for CPU: both CPU times are printed to tell who was
busy. To keep the test servers from setting the pace, the emulator serves object requests
without KMock's per-request reaction matching (:class:`BenchEmulator`) and the Phase peer reuses
its connections to moto (:func:`pooled_sts_calls`); ``--stock-emulator`` / ``--stock-peers``
measure with the servers exactly as the tests run them.

    .venv/bin/python -m bench --sizes 10,200,1000 --ttl 3600 --refresh-ttl 30
    .venv/bin/python -m bench --sizes 10,100 --operator-arg=--max-concurrent-exchanges=4
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import re
import statistics
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TypeVar
from unittest import mock

import aiohttp.web
import attrs
import httpx
import kmock
from support.kube.emulator import KubeEmulator
from support.kube.server import KubeAPI, build_emulator
from support.peers.phase_model import IssuedToken
from support.peers.phase_server import PhaseServer
from support.peers.sts_peer import StsPeer
from tests.controller.harness import OperatorProcess
from tests.kube import server as kube_server

T = TypeVar("T")

GROUP_VERSION = "externalidentity.dev/v1alpha1"
BINDINGS = f"{GROUP_VERSION}/serviceaccountbindings"
SECRETS = "v1/secrets"
IDENTITY = "bench-aws"
NAMESPACES = 10
POLL = 0.1
#: After the last binding resumed, keep watching this long for late (unwanted) exchanges.
RESTART_SETTLE = 2.0
MIB = 1024 * 1024
#: Environment that would point the operator at a real cluster or a developer's AWS profile.
FOREIGN_ENV = (
    "KUBERNETES_SERVICE_HOST",
    "KUBERNETES_SERVICE_PORT",
    "AWS_PROFILE",
    "AWS_ROLE_ARN",
    "AWS_WEB_IDENTITY_TOKEN_FILE",
    "AWS_CONTAINER_CREDENTIALS_FULL_URI",
    "AWS_CONTAINER_CREDENTIALS_RELATIVE_URI",
    "AWS_SESSION_TOKEN",
)


class BenchError(Exception):
    """The operator did not get there in time (or died): no figures for this size."""


@dataclass(frozen=True)
class Binding:
    namespace: str
    name: str
    secret: str
    #: Each binding has its own token-service account, so issued tokens map back to it.
    account_id: str


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


# --- the operator process -----------------------------------------------------------------------


def proc_status_kib(pid: int, field_name: str) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith(field_name + ":"):
            return int(line.split()[1])
    raise BenchError(f"/proc/{pid}/status has no {field_name}")


def proc_cpu_seconds(pid: int) -> float:
    stat = Path(f"/proc/{pid}/stat").read_text()
    fields = stat.rsplit(")", 1)[1].split()
    # After "pid (comm)": state is field 0; utime and stime are fields 11 and 12.
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def alive(operator: OperatorProcess) -> bool:
    pid = operator.pid
    if pid is None:
        return False
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except FileNotFoundError:
        return False
    return state not in ("Z", "X")


def running_pid(operator: OperatorProcess) -> int:
    pid = operator.pid
    if pid is None:
        raise BenchError("the operator is not running")
    return pid


def wait_until(
    operator: OperatorProcess, check: Callable[[], T | None], *, timeout: float, what: str
) -> T:
    deadline = time.monotonic() + timeout
    while True:
        result = check()
        if result is not None:
            return result
        if not alive(operator):
            raise BenchError(f"the operator exited while waiting for {what}")
        if time.monotonic() > deadline:
            raise BenchError(f"timed out after {timeout:.0f} s waiting for {what}")
        time.sleep(POLL)


@contextlib.contextmanager
def pooled_sts_calls() -> Iterator[None]:
    """Let the Phase peer reuse one connection pool for its calls to moto STS.

    The peer verifies every proof by calling STS with ``httpx.request``, which builds a new
    client, TLS context included, each time: ~20 ms of CPU in this process per exchange, more
    than the rest of the peer and moto together. Same requests, same answers, pooled.
    """
    client = httpx.Client()
    try:
        # phase_aws calls ``httpx.request``; nothing else in this process does while benching.
        with mock.patch.object(httpx, "request", client.request):
            yield
    finally:
        client.close()


@attrs.define(kw_only=True)
class BenchEmulator(KubeEmulator):
    """The tests' emulator, minus KMock's reaction matching for object requests.

    KMock decides whether a test reaction applies by checking the request against every
    request recorded so far (``request in view``), so each request costs time proportional to
    all before it: quadratic, and at a thousand bindings it, not the operator, sets the pace.
    The bench registers no reactions, so every object request would end in the store anyway;
    this serves it from there directly (the tail of ``KubeEmulator._handle``). Discovery still
    goes through KMock.
    """

    async def _handle(self, request: kmock.Request) -> aiohttp.web.StreamResponse:
        if not self._is_resource_request(request):
            return await super()._handle(request)
        result = self._serve(request)
        if isinstance(result, tuple):
            return aiohttp.web.json_response(result[1], status=result[0])
        assert request._raw_request is not None
        response = aiohttp.web.StreamResponse(status=200)
        response.content_type = "application/json"
        await response.prepare(request._raw_request)
        self._log(request, response.status)
        try:
            async for event in result:
                await response.write(json.dumps(event).encode() + b"\n")
            await response.write_eof()
        except ConnectionError:
            pass
        return response


def build_bench_emulator() -> KubeEmulator:
    """``build_emulator()`` (built-in resources, our CRDs, kopf's), as a BenchEmulator."""
    with mock.patch.object(kube_server, "KubeEmulator", BenchEmulator):
        return build_emulator()


# --- seeding --------------------------------------------------------------------------------------


def seed(kube: KubeAPI, phase: PhaseServer, sts: StsPeer, n: int, ttl: int) -> list[Binding]:
    namespaces = [f"bench-{index}" for index in range(min(NAMESPACES, n))]
    for namespace in namespaces:
        kube.ensure_namespace(namespace)
    kube.create(
        {
            "apiVersion": GROUP_VERSION,
            "kind": "ExternalIdentity",
            "metadata": {"name": IDENTITY},
            "spec": {
                "provider": "aws-iam",
                "tokenService": {"host": phase.base_url},
                "defaultTTL": ttl,
                "maxTTL": 86400,
                "aws": {"stsEndpoint": sts.endpoint},
            },
        }
    )
    bindings: list[Binding] = []
    for index in range(n):
        account = phase.add_service_account()
        phase.add_aws_identity(
            account,
            sts_endpoint=sts.endpoint,
            trusted_principals=[sts.trust_pattern()],
            default_ttl=ttl,
            max_ttl=86400,
        )
        name = f"sab-{index:05d}"
        bindings.append(
            Binding(namespaces[index % len(namespaces)], name, f"{name}-token", account.id)
        )
    bodies = [
        {
            "apiVersion": GROUP_VERSION,
            "kind": "ServiceAccountBinding",
            "metadata": {"name": binding.name, "namespace": binding.namespace},
            "spec": {
                "externalIdentityRef": {"name": IDENTITY},
                "serviceAccountId": binding.account_id,
                "ttl": ttl,
                "secret": {"name": binding.secret},
            },
        }
        for binding in bindings
    ]

    def create_all(emulator: KubeEmulator) -> None:
        for body in bodies:
            emulator.seed(body)

    kube.call(create_all, kube.emulator)
    return bindings


def operator_env(kube: KubeAPI, sts: StsPeer) -> dict[str, str]:
    env = {key: value for key, value in os.environ.items() if key not in FOREIGN_ENV}
    return {**env, **sts.env(), **kube.env()}


# --- observing the store (on the emulator's loop: no copies, no HTTP) -----------------------------


def ready_indexes(emulator: KubeEmulator, bindings: Sequence[Binding]) -> set[int]:
    """Bindings Ready=True/TokenIssued for their current generation, with a token Secret."""
    store = emulator.store
    sabs, secrets = kmock.resource(BINDINGS), kmock.resource(SECRETS)
    ready: set[int] = set()
    for index, binding in enumerate(bindings):
        obj = store.current((sabs, binding.namespace, binding.name))
        if obj is None:
            continue
        status = obj.get("status") or {}
        if status.get("observedGeneration") != obj["metadata"].get("generation"):
            continue
        if not any(
            (c.get("type"), c.get("status"), c.get("reason")) == ("Ready", "True", "TokenIssued")
            for c in status.get("conditions") or []
        ):
            continue
        secret = store.current((secrets, binding.namespace, binding.secret))
        if secret is not None and (secret.get("data") or {}).get("token"):
            ready.add(index)
    return ready


def secret_reads_since(emulator: KubeEmulator, start: int) -> tuple[int, set[tuple[str, str]]]:
    """(new end of the call log, Secrets read by name since ``start``)."""
    calls = emulator.calls
    read = {
        (str(call.namespace), str(call.name))
        for call in calls[start:]
        if call.resource == "secrets" and call.verb == "get" and call.name
    }
    return len(calls), read


def call_count(emulator: KubeEmulator) -> int:
    return len(emulator.calls)


def call_kinds(emulator: KubeEmulator, start: int, end: int | None = None) -> Counter[str]:
    """``verb resource[/subresource]`` (or the HTTP verb for non-resource URLs) per call."""
    kinds: Counter[str] = Counter()
    for call in emulator.calls[start:end]:
        if call.resource is None:
            kinds[f"{call.method.lower()} (discovery)"] += 1
        else:
            kinds[f"{call.verb} {call.rbac_resource}"] += 1
    return kinds


# --- the token service's records ------------------------------------------------------------------


def auth_requests(phase: PhaseServer) -> tuple[int, int]:
    """(auth requests answered, of which not 200)."""
    requests = [r for r in phase.records.requests if r.provider in ("aws-iam", "azure")]
    return len(requests), sum(1 for r in requests if r.status != 200)


def tokens_by_binding(
    phase: PhaseServer, bindings: Sequence[Binding], since: float
) -> list[list[IssuedToken]]:
    index = {binding.account_id: position for position, binding in enumerate(bindings)}
    issued: list[list[IssuedToken]] = [[] for _ in bindings]
    for token in phase.records.tokens:
        position = index.get(token.service_account_id)
        if position is not None and token.issued_at >= since:
            issued[position].append(token)
    for tokens in issued:
        tokens.sort(key=lambda token: token.issued_at)
    return issued


# --- one size -------------------------------------------------------------------------------------


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


def initial_pass(
    kube: KubeAPI, operator: OperatorProcess, bindings: Sequence[Binding], timeout: float
) -> tuple[float, float]:
    """(seconds to the first binding ready, seconds to all ready), from operator start."""
    started = time.monotonic()
    operator.start()
    first: float | None = None

    def all_ready() -> float | None:
        nonlocal first
        ready = kube.call(ready_indexes, kube.emulator, bindings)
        now = time.monotonic() - started
        if ready and first is None:
            first = now
        return now if len(ready) == len(bindings) else None

    done = wait_until(operator, all_ready, timeout=timeout, what="every binding to be Ready")
    return first if first is not None else done, done


def restart_pass(
    kube: KubeAPI,
    operator: OperatorProcess,
    phase: PhaseServer,
    bindings: Sequence[Binding],
    timeout: float,
) -> tuple[float, float, int, Counter[str], int]:
    """(stop s, resume s, new exchanges, writes after restart, peak RSS of the new process)."""
    stopping = time.monotonic()
    operator.stop()
    stop_s = time.monotonic() - stopping
    tokens_before = len(phase.records.tokens)
    mark = kube.call(call_count, kube.emulator)
    wanted = {(binding.namespace, binding.secret) for binding in bindings}
    seen: set[tuple[str, str]] = set()
    position = mark
    started = time.monotonic()
    operator.start()

    def resumed() -> float | None:
        nonlocal position
        position, read = kube.call(secret_reads_since, kube.emulator, position)
        seen.update(read & wanted)
        return time.monotonic() - started if seen == wanted else None

    resume_s = wait_until(operator, resumed, timeout=timeout, what="every binding to resume")
    time.sleep(RESTART_SETTLE)
    new_exchanges = len(phase.records.tokens) - tokens_before
    writes = Counter(
        {
            kind: count
            for kind, count in kube.call(call_kinds, kube.emulator, mark).items()
            if kind.split()[0] in {"create", "update", "patch", "delete"}
        }
    )
    rss = proc_status_kib(running_pid(operator), "VmHWM") * 1024
    return stop_s, resume_s, new_exchanges, writes, rss


def refresh_pass(
    kube: KubeAPI,
    operator: OperatorProcess,
    phase: PhaseServer,
    bindings: Sequence[Binding],
    ttl: int,
    timeout: float,
) -> Refresh:
    """Lower every binding's TTL to ``ttl``, then watch one refresh of each token."""
    mark = kube.call(call_count, kube.emulator)
    tokens_before = len(phase.records.tokens)
    since = time.time()

    def lower_ttl(emulator: KubeEmulator) -> None:
        for binding in bindings:
            emulator.patch_object(BINDINGS, binding.namespace, binding.name, {"spec": {"ttl": ttl}})

    kube.call(lower_ttl, kube.emulator)

    def refreshed() -> list[list[IssuedToken]] | None:
        issued = tokens_by_binding(phase, bindings, since)
        return issued if all(len(tokens) >= 2 for tokens in issued) else None

    issued = wait_until(
        operator, refreshed, timeout=timeout + ttl, what=f"every {ttl} s token to be refreshed"
    )
    reconfigured = [tokens[0] for tokens in issued]
    # Watch until every re-configured token has lived 90% of its life: any second refresh
    # inside that window would be a duplicate.
    window_end = max(token.issued_at for token in reconfigured) + 0.9 * ttl
    time.sleep(max(window_end - time.time(), 0.0))
    issued = tokens_by_binding(phase, bindings, since)
    api_calls = kube.call(call_kinds, kube.emulator, mark)
    shares, headrooms, in_cycle = [], [], 0
    for tokens in issued:
        first, second = tokens[0], tokens[1]
        shares.append((second.issued_at - first.issued_at) / first.ttl)
        headrooms.append(first.expires_at - second.issued_at)
        in_cycle += sum(
            1 for token in tokens[1:] if token.issued_at <= first.issued_at + 0.9 * first.ttl
        )
    return Refresh(
        ttl=ttl,
        reconfigure_s=max(token.issued_at for token in reconfigured) - since,
        refreshed_at_share=shares,
        min_headroom_s=min(headrooms),
        expired=sum(1 for headroom in headrooms if headroom < 0),
        exchanges_per_cycle=in_cycle / len(bindings),
        api_calls=api_calls,
        exchanges=len(phase.records.tokens) - tokens_before,
    )


_NOISE = re.compile(r"sab-\d+(-token)?|bench-\d+|\d[\d.:,T-]*|'[^']*'|\"[^\"]*\"")


def log_problems(output: str) -> Counter[str]:
    """WARNING/ERROR lines of the operator's log, with names and numbers blanked, counted."""
    problems: Counter[str] = Counter()
    for line in output.splitlines():
        parts = line.split(" ", 3)
        if len(parts) == 4 and parts[2] in ("WARNING", "ERROR", "CRITICAL"):
            problems[_NOISE.sub("…", f"{parts[2]} {parts[3]}")[:110]] += 1
    return problems


def run_size(n: int, options: Options, sts: StsPeer, phase: PhaseServer) -> Figures:
    phase.reset()
    with contextlib.ExitStack() as stack:
        workdir = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="eid-bench-")))
        factory = build_emulator if options.stock_emulator else build_bench_emulator
        kube = stack.enter_context(KubeAPI.serve(workdir / "kubeconfig", factory=factory))
        bindings = seed(kube, phase, sts, n, options.ttl)
        operator = OperatorProcess(
            env=operator_env(kube, sts),
            args=("--log-level", options.log_level, *options.operator_args),
        )
        stack.callback(operator.stop)
        try:
            figures = measure(n, kube, operator, phase, bindings, options)
        except BenchError as error:
            operator.stop()
            raise BenchError(f"N={n}: {error}\n{operator.output[-3000:]}") from None
        operator.stop()
        figures.log_problems = log_problems(operator.output)
        if options.logs is not None:
            options.logs.mkdir(parents=True, exist_ok=True)
            (options.logs / f"operator-{n}.log").write_text(operator.output)
    return figures


def measure(
    n: int,
    kube: KubeAPI,
    operator: OperatorProcess,
    phase: PhaseServer,
    bindings: Sequence[Binding],
    options: Options,
) -> Figures:
    bench_cpu = time.process_time()
    first_s, all_s = initial_pass(kube, operator, bindings, options.timeout)
    bench_cpu = time.process_time() - bench_cpu
    pid = running_pid(operator)
    peak_rss = proc_status_kib(pid, "VmHWM") * 1024
    operator_cpu = proc_cpu_seconds(pid)
    exchanges, failed = auth_requests(phase)
    api_calls = kube.call(call_kinds, kube.emulator, 0)
    stop_s, restart_s, restart_exchanges, writes, restart_rss = restart_pass(
        kube, operator, phase, bindings, options.timeout
    )
    figures = Figures(
        n=n,
        first_ready_s=first_s,
        all_ready_s=all_s,
        peak_rss=peak_rss,
        operator_cpu_s=operator_cpu,
        bench_cpu_s=bench_cpu,
        exchanges=exchanges,
        failed_exchanges=failed,
        api_calls=api_calls,
        stop_s=stop_s,
        restart_s=restart_s,
        restart_exchanges=restart_exchanges,
        restart_writes=writes,
        restart_peak_rss=restart_rss,
    )
    if options.refresh_ttl > 0:
        figures.refresh = refresh_pass(
            kube, operator, phase, bindings, options.refresh_ttl, options.timeout
        )
    return figures


# --- printing -------------------------------------------------------------------------------------


def table(header: Sequence[str], rows: Iterable[Sequence[str]]) -> str:
    lines = [list(header), *[list(row) for row in rows]]
    widths = [max(len(line[column]) for line in lines) for column in range(len(header))]
    return "\n".join(
        "  ".join(cell.rjust(width) for cell, width in zip(line, widths, strict=True))
        for line in lines
    )


def percentile(values: Sequence[float], share: float) -> float:
    ordered = sorted(values)
    return ordered[min(int(share * len(ordered)), len(ordered) - 1)]


def per_binding_kib(figures: Figures, base: Figures) -> str:
    """Peak RSS growth per binding added over the baseline."""
    if figures.n == base.n:
        return "-"
    return f"{(figures.peak_rss - base.peak_rss) / 1024 / (figures.n - base.n):.1f}"


def report(results: Sequence[Figures], options: Options) -> str:
    base = results[0]
    out: list[str] = []
    out.append(
        f"initial pass, restart (binding ttl {options.ttl} s); baseline N={base.n}; "
        "ratio = per-binding figure / baseline's"
    )
    out.append(
        table(
            [
                "N", "ready s", "first s", "ms/b", "ratio", "marg ms/b", "RSS MiB", "RSS x",
                "KiB/b", "exch/b", "op CPU s", "emu+peers CPU s", "stop s", "restart s",
                "restart exch",
            ],
            [
                [
                    str(f.n),
                    f"{f.all_ready_s:.2f}",
                    f"{f.first_ready_s:.2f}",
                    f"{f.ms_per_binding:.1f}",
                    f"{f.ms_per_binding / base.ms_per_binding:.2f}",
                    f"{f.marginal_ms:.1f}",
                    f"{f.peak_rss / MIB:.1f}",
                    f"{f.peak_rss / base.peak_rss:.2f}",
                    per_binding_kib(f, base),
                    f"{f.exchanges / f.n:.2f}",
                    f"{f.operator_cpu_s:.1f}",
                    f"{f.bench_cpu_s:.1f}",
                    f"{f.stop_s:.1f}",
                    f"{f.restart_s:.2f}",
                    str(f.restart_exchanges),
                ]
                for f in results
            ],
        )
    )
    passes = [(f.n, f.refresh) for f in results if f.refresh is not None]
    if passes:
        out.append(
            f"\nrefresh (spec.ttl lowered to {options.refresh_ttl} s, then one refresh cycle "
            "watched); replaced at = share of TTL when the token was replaced"
        )
        base_reexchange = passes[0][1].reconfigure_s / passes[0][0]
        rows = [
            [
                str(n),
                f"{r.reconfigure_s:.2f}",
                f"{r.reconfigure_s / n / base_reexchange:.2f}",
                f"{statistics.median(r.refreshed_at_share):.3f}",
                f"{max(r.refreshed_at_share):.3f}",
                f"{r.min_headroom_s:.1f}",
                str(r.expired),
                f"{r.exchanges_per_cycle:.2f}",
                f"{r.api_calls_per_exchange:.1f}",
            ]
            for n, r in passes
        ]
        out.append(
            table(
                [
                    "N", "re-exchange s", "ratio", "replaced at p50", "max", "min headroom s",
                    "expired", "refresh/b/cycle", "API calls/exch",
                ],
                rows,
            )
        )
    out.append(
        "\nKubernetes API calls per binding in the initial pass"
        + (", and per exchange in the largest refresh pass:" if passes else ":")
    )
    passes = passes[-1:]
    kinds = sorted(
        {kind for f in results for kind in f.api_calls}
        | {kind for _, r in passes for kind in r.api_calls},
        key=lambda kind: (-base.api_calls[kind], kind),
    )
    header = ["call", *[f"N={f.n}" for f in results], *[f"refresh N={n}" for n, _ in passes]]
    out.append(
        table(
            header,
            [
                [
                    kind,
                    *[f"{f.api_calls[kind] / f.n:.2f}" for f in results],
                    *[f"{r.api_calls[kind] / max(r.exchanges, 1):.2f}" for _, r in passes],
                ]
                for kind in kinds
            ],
        )
    )
    for f in results:
        writes = ", ".join(f"{kind} {count}" for kind, count in sorted(f.restart_writes.items()))
        out.append(
            f"N={f.n}: writes after restart: {writes or 'none'}; restarted process peak RSS "
            f"{f.restart_peak_rss / MIB:.1f} MiB; failed token-service requests "
            f"{f.failed_exchanges}"
        )
        for problem, count in f.log_problems.most_common(4):
            out.append(f"    log x{count}: {problem}")
    return "\n".join(out)


# --- main -----------------------------------------------------------------------------------------


def parse_args(argv: Sequence[str] | None) -> Options:
    parser = argparse.ArgumentParser(
        prog="python -m bench", description=(__doc__ or "").split("\n")[0]
    )
    parser.add_argument(
        "--sizes", default="10,200,1000",
        help="binding counts, comma-separated; the first is the baseline (default: %(default)s)",
    )
    parser.add_argument(
        "--ttl", type=int, default=3600,
        help="binding TTL in seconds for the initial and restart passes; keep it long enough "
        "that nothing is due for refresh meanwhile (default: %(default)s)",
    )
    parser.add_argument(
        "--refresh-ttl", type=int, default=30,
        help="short TTL in seconds for the refresh pass; 0 skips it (default: %(default)s)",
    )
    parser.add_argument(
        "--timeout", type=float, default=240,
        help="seconds each stage may take before the bench gives up (default: %(default)s)",
    )
    parser.add_argument(
        "--log-level", default="INFO", choices=["DEBUG", "INFO", "WARNING"],
        help="the operator's log level; the tests run it at DEBUG, which logs far more "
        "(default: %(default)s)",
    )
    parser.add_argument(
        "--operator-arg", action="append", default=[], metavar="ARG",
        help="extra argument for `external-identity run` (repeatable), "
        "e.g. --operator-arg=--max-concurrent-exchanges=32",
    )
    parser.add_argument("--logs", type=Path, help="save each size's operator log here")
    parser.add_argument(
        "--stock-peers", action="store_true",
        help="leave the Phase peer opening a new HTTP client per STS call (slower peer)",
    )
    parser.add_argument(
        "--stock-emulator", action="store_true",
        help="serve object requests through KMock's reaction matching, as the tests do "
        "(cost grows with every request served: quadratic)",
    )
    args = parser.parse_args(argv)
    try:
        sizes = [int(size) for size in args.sizes.split(",") if size.strip()]
    except ValueError:
        parser.error(f"--sizes: {args.sizes!r} is not a comma-separated list of numbers")
    if not sizes or min(sizes) < 1:
        parser.error("--sizes needs at least one size, all positive")
    if args.ttl < 60 or args.refresh_ttl < 0 or 0 < args.refresh_ttl < 6:
        parser.error("--ttl must be at least 60 and --refresh-ttl 0 or at least 6")
    return Options(
        sizes=sizes,
        ttl=args.ttl,
        refresh_ttl=args.refresh_ttl,
        timeout=args.timeout,
        log_level=args.log_level,
        operator_args=list(args.operator_arg),
        logs=args.logs,
        stock_peers=args.stock_peers,
        stock_emulator=args.stock_emulator,
    )


def run_all(options: Options, sts: StsPeer, phase: PhaseServer) -> list[Figures]:
    results: list[Figures] = []
    with contextlib.ExitStack() as stack:
        if not options.stock_peers:
            stack.enter_context(pooled_sts_calls())
        for n in options.sizes:
            figures = run_size(n, options, sts, phase)
            results.append(figures)
            refresh = (
                f", refresh pass re-exchanged in {figures.refresh.reconfigure_s:.1f} s"
                if figures.refresh is not None
                else ""
            )
            print(
                f"  N={n}: all Ready in {figures.all_ready_s:.2f} s, restart resumed in "
                f"{figures.restart_s:.2f} s{refresh}",
                flush=True,
            )
    return results


def main(argv: Sequence[str] | None = None) -> int:
    options = parse_args(argv)
    print(
        f"external-identity-operator bench: N = {', '.join(map(str, options.sizes))} bindings, "
        f"{os.cpu_count()} CPUs. Everything is local (Kubernetes API emulator, moto STS, "
        "Phase-protocol peer); the emulator and peers share this process"
        + ("" if options.stock_emulator else ", the emulator skipping KMock's reaction matching")
        + ("." if options.stock_peers else ", the Phase peer pooling its STS connections."),
        flush=True,
    )
    started = time.monotonic()
    sts, phase = StsPeer(), PhaseServer()
    sts.start()
    phase.start()
    try:
        results = run_all(options, sts, phase)
    except BenchError as error:
        print(f"bench FAILED: {error}", file=sys.stderr)
        return 1
    finally:
        phase.stop()
        sts.stop()
    print(f"\n{report(results, options)}\n\ntotal {time.monotonic() - started:.0f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
