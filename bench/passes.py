"""The passes over one size's cluster: first issue (operator or floor), restart, refresh.

Each pass drives a program (start, stop, a spec change) and waits, polling the cluster and the
token service's records, until every binding got there; it returns what it timed and counted.
A pass that does not finish in time raises :class:`~bench.model.BenchError`.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence

from support.operator import OperatorProcess, metric
from support.peers.phase_model import IssuedToken
from support.peers.phase_server import PhaseServer

from bench.clusters import Cluster
from bench.counting import (
    auth_requests,
    call_kinds,
    request_mark,
    tokens_by_binding,
)
from bench.model import BenchError, Binding, Issue, Refresh, Restart
from bench.operator_process import (
    READY_GAUGE,
    Program,
    proc_cpu_seconds,
    proc_status_kib,
    running_pid,
    wait_until,
)

#: After the last binding was Ready, keep counting API requests this long (late events).
ISSUE_SETTLE = 1.0
#: After the last binding resumed, keep watching this long for late (unwanted) exchanges.
RESTART_SETTLE = 2.0
#: Share of a token's TTL watched for a second (duplicate) refresh.
CYCLE_SHARE = 0.9


def ready_times(
    cluster: Cluster,
    program: Program,
    bindings: Sequence[Binding],
    timeout: float,
    finished: Callable[[], bool] = lambda: False,
) -> tuple[float, float]:
    """Start ``program``: (seconds to the first binding Ready, seconds to all Ready).

    ``finished`` says the program is done (the floor); then one more look must find all Ready.
    """
    started = time.monotonic()
    program.start()
    first: float | None = None
    last_look = False

    def all_ready() -> float | None:
        nonlocal first, last_look
        if last_look:
            raise BenchError("the program finished before every binding was Ready")
        last_look = finished()
        ready = cluster.ready(bindings)
        now = time.monotonic() - started
        if ready and first is None:
            first = now
        return now if len(ready) == len(bindings) else None

    try:
        done = wait_until(
            program, all_ready, timeout=timeout, what="every binding to be Ready",
            poll=cluster.poll,
        )
    except BenchError as error:
        ready = cluster.ready(bindings)
        late = [f"{b.namespace}/{b.name}" for i, b in enumerate(bindings) if i not in ready]
        counts = f"{len(ready)} of {len(bindings)} were; not: {', '.join(late[:3])}"
        raise BenchError(f"{error} ({counts})") from None
    return first if first is not None else done, done


def issue_pass(
    cluster: Cluster,
    program: Program,
    phase: PhaseServer,
    bindings: Sequence[Binding],
    timeout: float,
    *,
    finished: Callable[[], bool] = lambda: False,
    finish: Callable[[], None] = lambda: None,
) -> Issue:
    """Start ``program`` on unissued bindings and measure it until all are Ready.

    ``finished`` tells when the program is done on its own (see :func:`ready_times`);
    ``finish`` runs after the settle time, before /proc is read (the floor reports there),
    and also when waiting failed, so a program's own report of what went wrong comes first.
    """
    call_mark, phase_mark = cluster.call_count(), request_mark(phase)
    bench_cpu = time.process_time()
    try:
        first_s, all_s = ready_times(cluster, program, bindings, timeout, finished)
    except BenchError:
        finish()
        raise
    bench_cpu = time.process_time() - bench_cpu
    time.sleep(ISSUE_SETTLE)
    finish()
    pid = running_pid(program)
    exchanges, failed = auth_requests(phase, phase_mark)
    return Issue(
        first_ready_s=first_s,
        all_ready_s=all_s,
        peak_rss=proc_status_kib(pid, "VmHWM") * 1024,
        cpu_s=proc_cpu_seconds(pid),
        api_calls=call_kinds(cluster.calls(call_mark)),
        exchanges=exchanges,
        failed_exchanges=failed,
        bench_cpu_s=bench_cpu,
    )


def restart_pass(
    cluster: Cluster,
    operator: OperatorProcess,
    phase: PhaseServer,
    bindings: Sequence[Binding],
    timeout: float,
    metrics_port: int,
) -> Restart:
    """Stop the operator, start it again, and wait until it counts every binding Ready again.

    The operator reads Secrets back from its start-up LIST, not one GET each, so the count
    comes from its own ``external_identity_bindings_ready`` gauge (set as each binding resumes).
    """
    stopping = time.monotonic()
    operator.stop()
    stop_s = time.monotonic() - stopping
    tokens_before = len(phase.records.tokens)
    mark = cluster.call_count()
    started = time.monotonic()
    operator.start()

    def resumed() -> float | None:
        ready = metric(metrics_port, READY_GAUGE)
        return time.monotonic() - started if ready == len(bindings) else None

    resume_s = wait_until(
        operator, resumed, timeout=timeout, what="every binding to resume", poll=cluster.poll
    )
    time.sleep(RESTART_SETTLE)
    return Restart(
        stop_s=stop_s,
        resume_s=resume_s,
        exchanges=len(phase.records.tokens) - tokens_before,
        api_calls=call_kinds(cluster.calls(mark)),
        peak_rss=proc_status_kib(running_pid(operator), "VmHWM") * 1024,
    )


def refresh_pass(
    cluster: Cluster,
    operator: OperatorProcess,
    phase: PhaseServer,
    bindings: Sequence[Binding],
    ttl: int,
    timeout: float,
    add_binding: Callable[[], Binding],
) -> Refresh:
    """Lower every binding's TTL to ``ttl``, then watch one refresh of each token.

    While all of them re-exchange, ``add_binding`` creates one more: how long it takes to be
    Ready under that load is the latecomer time.
    """
    mark = cluster.call_count()
    tokens_before = len(phase.records.tokens)
    since = time.time()
    cluster.patch_bindings(bindings, {"spec": {"ttl": ttl}})
    added = time.monotonic()
    late = add_binding()
    latecomer_s = wait_until(
        operator, lambda: time.monotonic() - added if cluster.ready([late]) else None,
        timeout=timeout, what="a binding created under load to be Ready", poll=cluster.poll,
    )

    def refreshed() -> list[list[IssuedToken]] | None:
        issued = tokens_by_binding(phase, bindings, since)
        return issued if all(len(tokens) >= 2 for tokens in issued) else None

    issued = wait_until(
        operator, refreshed, timeout=timeout + ttl, what=f"every {ttl} s token to be refreshed"
    )
    reconfigured = [tokens[0] for tokens in issued]
    # Watch until every re-configured token has lived 90% of its life: any second refresh
    # inside that window would be a duplicate.
    window_end = max(token.issued_at for token in reconfigured) + CYCLE_SHARE * ttl
    time.sleep(max(window_end - time.time(), 0.0))
    issued = tokens_by_binding(phase, bindings, since)
    api_calls = call_kinds(cluster.calls(mark))
    shares: list[float] = []
    headrooms: list[float] = []
    in_cycle = 0
    for tokens in issued:
        first, second = tokens[0], tokens[1]
        shares.append((second.issued_at - first.issued_at) / first.ttl)
        headrooms.append(first.expires_at - second.issued_at)
        in_cycle += sum(
            1
            for token in tokens[1:]
            if token.issued_at <= first.issued_at + CYCLE_SHARE * first.ttl
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
        latecomer_ready_s=latecomer_s,
    )
