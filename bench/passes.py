"""The three passes over one seeded emulator: initial issue, restart, refresh.

Each pass drives the operator (start, stop, a spec change) and waits, polling the emulator's
store and the token service's records, until every binding got there; it returns what it
timed and counted. A pass that does not finish in time raises :class:`~bench.model.BenchError`.
"""

from __future__ import annotations

import time
from collections import Counter
from collections.abc import Sequence

from support.kube.emulator import KubeEmulator
from support.kube.server import KubeAPI
from support.operator import OperatorProcess
from support.peers.phase_model import IssuedToken
from support.peers.phase_server import PhaseServer

from bench.counting import (
    call_count,
    call_kinds,
    ready_indexes,
    secret_reads_since,
    tokens_by_binding,
)
from bench.model import BINDINGS, Binding, Refresh, Restart
from bench.operator_process import proc_status_kib, running_pid, wait_until

#: After the last binding resumed, keep watching this long for late (unwanted) exchanges.
RESTART_SETTLE = 2.0
#: Share of a token's TTL watched for a second (duplicate) refresh.
CYCLE_SHARE = 0.9
WRITE_VERBS = frozenset({"create", "update", "patch", "delete"})


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
) -> Restart:
    """Stop the operator, start it again, and wait until every binding read its Secret back."""
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
            if kind.split()[0] in WRITE_VERBS
        }
    )
    return Restart(
        stop_s=stop_s,
        resume_s=resume_s,
        exchanges=new_exchanges,
        writes=writes,
        peak_rss=proc_status_kib(running_pid(operator), "VmHWM") * 1024,
    )


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
    window_end = max(token.issued_at for token in reconfigured) + CYCLE_SHARE * ttl
    time.sleep(max(window_end - time.time(), 0.0))
    issued = tokens_by_binding(phase, bindings, since)
    api_calls = kube.call(call_kinds, kube.emulator, mark)
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
    )
