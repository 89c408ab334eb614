"""One size end to end, then all sizes: the operator's passes, then the floor's, on one cluster.

Per size: seed the operator's bindings and its ExternalIdentity, run the operator (first
issue, restart, refresh), stop it; only then seed the floor's bindings (the operator watches
every namespace, so the two sets never exist while the other program runs) and run the floor.
On the emulator every size gets a fresh one; on a real cluster each size's objects are removed
before the next (the operator's while it still runs, so its finalizers are honoured).
Prints one progress line per size; the tables are :mod:`bench.report`'s.
"""

from __future__ import annotations

import contextlib
import tempfile
from collections import Counter
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager
from pathlib import Path
from typing import NamedTuple

from support.operator import free_port
from support.peers.phase_server import PhaseServer
from support.peers.sts_peer import StsPeer

from bench.clusters import Cluster, EmulatorCluster
from bench.counting import log_problems
from bench.floor_process import FloorProcess, floor_args
from bench.model import BenchError, BindingSet, Figures, Issue, Options, Refresh, Restart
from bench.operator_process import OperatorProcess, program_env
from bench.passes import issue_pass, refresh_pass, restart_pass
from bench.seeding import add_latecomer, identity_body, seed_set
from bench.servers import pooled_sts_calls

#: How much of a failed run's operator log goes into the error.
LOG_TAIL = 3000

OpenCluster = Callable[[], AbstractContextManager[Cluster]]


class OperatorRun(NamedTuple):
    issue: Issue
    restart: Restart
    refresh: Refresh | None
    log_problems: Counter[str]


def operator_passes(
    n: int, cluster: Cluster, phase: PhaseServer, sts: StsPeer, options: Options, *,
    prefix: str, run: str,
) -> OperatorRun:
    """The operator's first issue, restart and refresh, and its log's problems."""
    identity = identity_body(f"{prefix}bench-aws", phase, sts, options.ttl)
    ops = seed_set(cluster, phase, sts, label="operator", prefix=prefix, run=run, n=n,
                   ttl=options.ttl, identity=identity)
    metrics_port = free_port()
    operator = OperatorProcess(
        env=program_env(cluster.kubeconfig, sts),
        args=("--log-level", options.log_level, "--metrics-port", str(metrics_port),
              *options.operator_args),
    )
    try:
        issue = issue_pass(cluster, operator, phase, ops.bindings, options.timeout)
        restart = restart_pass(
            cluster, operator, phase, ops.bindings, options.timeout, metrics_port
        )
        refresh = None
        if options.refresh_ttl > 0:
            refresh = refresh_pass(
                cluster, operator, phase, ops.bindings, options.refresh_ttl, options.timeout,
                lambda: add_latecomer(cluster, phase, sts, ops, run=run, ttl=options.ttl),
            )
        cluster.remove(ops.namespaces, [ops.identity])  # while the operator runs: finalizers
    except BenchError as error:
        with contextlib.suppress(BenchError):
            cluster.remove(ops.namespaces, [ops.identity])
        raise BenchError(f"N={n} (operator): {error}\n{operator.output[-LOG_TAIL:]}") from None
    finally:
        operator.stop()
    if options.logs is not None:
        options.logs.mkdir(parents=True, exist_ok=True)
        (options.logs / f"operator-{n}.log").write_text(operator.output)
    return OperatorRun(issue, restart, refresh, log_problems(operator.output))


def floor_pass(
    n: int, cluster: Cluster, phase: PhaseServer, sts: StsPeer, options: Options, *,
    prefix: str, run: str,
) -> Issue:
    floor_set: BindingSet = seed_set(
        cluster, phase, sts, label="floor", prefix=prefix, run=run, n=n, ttl=options.ttl
    )
    floor = FloorProcess(
        env=program_env(cluster.kubeconfig, sts),
        args=floor_args(phase, sts, run=run, concurrency=options.concurrency),
    )
    try:
        issue = issue_pass(
            cluster, floor, phase, floor_set.bindings, options.timeout,
            finished=floor.reported, finish=floor.finish,
        )
    except BenchError as error:
        raise BenchError(f"N={n} (floor): {error}\n{floor.stderr()}") from None
    finally:
        floor.stop()
        cluster.remove(floor_set.namespaces, [])
    return issue


def run_size(
    n: int, options: Options, open_cluster: OpenCluster, sts: StsPeer, phase: PhaseServer,
    *, prefix: str, run: str,
) -> Figures:
    phase.reset()
    with open_cluster() as cluster:
        operator = operator_passes(n, cluster, phase, sts, options, prefix=prefix, run=run)
        floor = floor_pass(n, cluster, phase, sts, options, prefix=prefix, run=run)
    return Figures(
        n=n, operator=operator.issue, floor=floor, restart=operator.restart,
        refresh=operator.refresh, log_problems=operator.log_problems,
    )


def emulators(options: Options) -> OpenCluster:
    """A fresh emulator for every size, in a temporary directory of its own."""

    @contextlib.contextmanager
    def open_cluster() -> Iterator[Cluster]:
        with contextlib.ExitStack() as stack:
            workdir = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="eid-bench-")))
            yield stack.enter_context(EmulatorCluster.serve(workdir, stock=options.stock_emulator))

    return open_cluster


def run_all(
    options: Options, sts: StsPeer, phase: PhaseServer, open_cluster: OpenCluster, run: str
) -> list[Figures]:
    """Every size in turn; ``run`` names this run (cluster mode: in every object's name)."""
    results: list[Figures] = []
    with contextlib.ExitStack() as stack:
        if not options.stock_peers:
            stack.enter_context(pooled_sts_calls())
        for n in options.sizes:
            prefix = "" if options.kubeconfig is None else f"eidb-{run}-n{n}-"
            figures = run_size(n, options, open_cluster, sts, phase, prefix=prefix, run=run)
            results.append(figures)
            op, floor = figures.operator, figures.floor
            print(
                f"  N={n}: all Ready in {op.all_ready_s:.2f} s (floor {floor.all_ready_s:.2f} s), "
                f"restart resumed in {figures.restart.resume_s:.2f} s"
                + (
                    f", refresh pass re-exchanged in {figures.refresh.reconfigure_s:.1f} s"
                    if figures.refresh is not None
                    else ""
                ),
                flush=True,
            )
    return results
