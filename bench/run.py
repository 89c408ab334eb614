"""One size end to end (fresh emulator, seeded bindings, the operator, the passes), then all sizes.

Prints one progress line per size; the tables are :mod:`bench.report`'s.
"""

from __future__ import annotations

import contextlib
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path

from support.kube.server import KubeAPI, build_emulator
from support.peers.phase_server import PhaseServer
from support.peers.sts_peer import StsPeer

from bench.counting import auth_requests, call_kinds, log_problems
from bench.model import BenchError, Binding, Figures, Options
from bench.operator_process import (
    OperatorProcess,
    operator_env,
    proc_cpu_seconds,
    proc_status_kib,
    running_pid,
)
from bench.passes import initial_pass, refresh_pass, restart_pass
from bench.seeding import seed
from bench.servers import build_bench_emulator, pooled_sts_calls

#: How much of a failed run's operator log goes into the error.
LOG_TAIL = 3000


def measure(
    n: int,
    kube: KubeAPI,
    operator: OperatorProcess,
    phase: PhaseServer,
    bindings: Sequence[Binding],
    options: Options,
) -> Figures:
    """The initial pass, the restart pass and (unless ``--refresh-ttl 0``) the refresh pass."""
    bench_cpu = time.process_time()
    first_s, all_s = initial_pass(kube, operator, bindings, options.timeout)
    bench_cpu = time.process_time() - bench_cpu
    pid = running_pid(operator)
    peak_rss = proc_status_kib(pid, "VmHWM") * 1024
    operator_cpu = proc_cpu_seconds(pid)
    exchanges, failed = auth_requests(phase)
    api_calls = kube.call(call_kinds, kube.emulator, 0)
    restart = restart_pass(kube, operator, phase, bindings, options.timeout)
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
        stop_s=restart.stop_s,
        restart_s=restart.resume_s,
        restart_exchanges=restart.exchanges,
        restart_writes=restart.writes,
        restart_peak_rss=restart.peak_rss,
    )
    if options.refresh_ttl > 0:
        figures.refresh = refresh_pass(
            kube, operator, phase, bindings, options.refresh_ttl, options.timeout
        )
    return figures


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
            raise BenchError(f"N={n}: {error}\n{operator.output[-LOG_TAIL:]}") from None
        operator.stop()
        figures.log_problems = log_problems(operator.output)
        if options.logs is not None:
            options.logs.mkdir(parents=True, exist_ok=True)
            (options.logs / f"operator-{n}.log").write_text(operator.output)
    return figures


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
