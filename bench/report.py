"""The printed tables: the operator's figures as ratios against the floor measured in this run.

Pure formatting of :class:`~bench.model.Figures`; no I/O.
"""

from __future__ import annotations

import statistics
from collections import Counter
from collections.abc import Iterable, Sequence

from bench.model import MIB, Figures, Options

#: How many distinct WARNING/ERROR log lines are shown per size.
LOG_PROBLEMS_SHOWN = 4


def table(header: Sequence[str], rows: Iterable[Sequence[str]]) -> str:
    """Right-aligned columns, two spaces apart."""
    lines = [list(header), *[list(row) for row in rows]]
    widths = [max(len(line[column]) for line in lines) for column in range(len(header))]
    return "\n".join(
        "  ".join(cell.rjust(width) for cell, width in zip(line, widths, strict=True))
        for line in lines
    )


def ratio(operator: float, floor: float) -> str:
    return f"{operator / floor:.2f}" if floor > 0 else "-"


def first_issue(results: Sequence[Figures]) -> list[str]:
    header = [
        "N", "ready s", "floor", "x", "first s", "floor", "RSS MiB", "floor", "x",
        "CPU s", "floor", "x", "req/b", "floor", "x", "exch/b", "bench CPU s",
    ]
    rows = []
    for f in results:
        op, fl = f.operator, f.floor
        rows.append([
            str(f.n),
            f"{op.all_ready_s:.2f}", f"{fl.all_ready_s:.2f}", ratio(op.all_ready_s, fl.all_ready_s),
            f"{op.first_ready_s:.2f}", f"{fl.first_ready_s:.2f}",
            f"{op.peak_rss / MIB:.1f}", f"{fl.peak_rss / MIB:.1f}", ratio(op.peak_rss, fl.peak_rss),
            f"{op.cpu_s:.1f}", f"{fl.cpu_s:.1f}", ratio(op.cpu_s, fl.cpu_s),
            f"{op.api_total / f.n:.2f}", f"{fl.api_total / f.n:.2f}",
            ratio(op.api_total, fl.api_total),
            f"{op.exchanges / f.n:.2f}",
            f"{op.bench_cpu_s:.1f}",
        ])
    return [
        "first issue: operator, then the floor (x = operator / floor; same cluster, peers and "
        "N, this run)",
        "  ready = seconds from process start until every binding is Ready with its Secret, "
        "first = until the first one; RSS = peak (VmHWM);",
        "  CPU = the process's user+system seconds; req/b = Kubernetes API requests per "
        "binding; bench CPU = emulator, peers and polling during the operator's pass",
        table(header, rows),
    ]


def restarts(results: Sequence[Figures], options: Options) -> list[str]:
    header = ["N", "stop s", "resume s", "req/b", "writes/b", "new exchanges", "peak RSS MiB"]
    rows = [
        [
            str(f.n),
            f"{f.restart.stop_s:.1f}",
            f"{f.restart.resume_s:.2f}",
            f"{sum(f.restart.api_calls.values()) / f.n:.2f}",
            f"{sum(f.restart.writes.values()) / f.n:.2f}",
            str(f.restart.exchanges),
            f"{f.restart.peak_rss / MIB:.1f}",
        ]
        for f in results
    ]
    return [
        f"\nrestart (operator; binding ttl {options.ttl} s): SIGTERM, start again, until every "
        "binding is Ready again (the operator's bindings_ready gauge); req/b counted until 2 s "
        "after that",
        table(header, rows),
    ]


def refreshes(results: Sequence[Figures], options: Options) -> list[str]:
    header = [
        "N", "re-exchange s", "latecomer s", "replaced at p50", "max", "min headroom s",
        "expired", "refresh/b/cycle", "req/exchange",
    ]
    rows = [
        [
            str(f.n),
            f"{r.reconfigure_s:.2f}",
            f"{r.latecomer_ready_s:.2f}",
            f"{statistics.median(r.refreshed_at_share):.3f}",
            f"{max(r.refreshed_at_share):.3f}",
            f"{r.min_headroom_s:.1f}",
            str(r.expired),
            f"{r.exchanges_per_cycle:.2f}",
            f"{r.api_calls_per_exchange:.2f}",
        ]
        for f in results
        if (r := f.refresh) is not None
    ]
    if not rows:
        return []
    return [
        f"\nrefresh (operator; spec.ttl lowered to {options.refresh_ttl} s: one re-exchange per "
        "binding, then one refresh cycle watched); latecomer = seconds until a binding created "
        "during that re-exchange is Ready; replaced at = share of TTL when the token was "
        "replaced; req/exchange = API requests per binding per refresh",
        table(header, rows),
    ]


def api_calls(results: Sequence[Figures]) -> list[str]:
    """Requests per binding by kind: first issue (operator, floor), restart and refresh."""
    largest = results[-1]
    columns: list[tuple[str, Counter[str], float]] = []
    for f in results:
        columns.append((f"N={f.n} op", f.operator.api_calls, f.n))
        columns.append(("floor", f.floor.api_calls, f.n))
    columns.append((f"restart N={largest.n}", largest.restart.api_calls, largest.n))
    if largest.refresh is not None:
        columns.append((
            f"refresh N={largest.n}", largest.refresh.api_calls,
            max(largest.refresh.exchanges, 1),
        ))
    kinds = sorted(
        {kind for _, calls, _ in columns for kind in calls},
        key=lambda kind: (-largest.operator.api_calls[kind], -largest.floor.api_calls[kind], kind),
    )
    rows = [
        ["total", *[f"{sum(calls.values()) / per:.2f}" for _, calls, per in columns]],
        *([kind, *[f"{calls[kind] / per:.2f}" for _, calls, per in columns]] for kind in kinds),
    ]
    return [
        "\nKubernetes API requests per binding by verb and resource: first issue (operator, "
        "floor), restart" + (", and per exchange in refresh" if largest.refresh else ""),
        table(["request", *[name for name, _, _ in columns]], rows),
    ]


def notes(results: Sequence[Figures]) -> list[str]:
    """Per size: writes after the restart, failed exchanges, log problems."""
    out: list[str] = []
    for f in results:
        writes = ", ".join(f"{kind} {n}" for kind, n in sorted(f.restart.writes.items()))
        out.append(
            f"N={f.n}: writes after restart: {writes or 'none'}; failed token-service requests "
            f"{f.operator.failed_exchanges} (floor {f.floor.failed_exchanges}); floor exch/b "
            f"{f.floor.exchanges / f.n:.2f}"
        )
        for problem, count in f.log_problems.most_common(LOG_PROBLEMS_SHOWN):
            out.append(f"    log x{count}: {problem}")
    return out


def report(results: Sequence[Figures], options: Options) -> str:
    out = first_issue(results)
    out += restarts(results, options)
    out += refreshes(results, options)
    out += api_calls(results)
    out += notes(results)
    return "\n".join(out)
