"""The printed tables: every size's figures, as ratios against the baseline (the first size).

Pure formatting of :class:`~bench.model.Figures`; no I/O.
"""

from __future__ import annotations

import statistics
from collections.abc import Iterable, Sequence

from bench.model import MIB, Figures, Options, Refresh

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


def per_binding_kib(figures: Figures, base: Figures) -> str:
    """Peak RSS growth per binding added over the baseline."""
    if figures.n == base.n:
        return "-"
    return f"{(figures.peak_rss - base.peak_rss) / 1024 / (figures.n - base.n):.1f}"


def initial_and_restart(results: Sequence[Figures], options: Options) -> list[str]:
    base = results[0]
    header = [
        "N", "ready s", "first s", "ms/b", "ratio", "marg ms/b", "RSS MiB", "RSS x", "KiB/b",
        "exch/b", "op CPU s", "emu+peers CPU s", "stop s", "restart s", "restart exch",
    ]
    rows = [
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
    ]
    return [
        f"initial pass, restart (binding ttl {options.ttl} s); baseline N={base.n}; "
        "ratio = per-binding figure / baseline's",
        table(header, rows),
    ]


def refreshes(passes: Sequence[tuple[int, Refresh]], options: Options) -> list[str]:
    header = [
        "N", "re-exchange s", "ratio", "replaced at p50", "max", "min headroom s", "expired",
        "refresh/b/cycle", "API calls/exch",
    ]
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
    return [
        f"\nrefresh (spec.ttl lowered to {options.refresh_ttl} s, then one refresh cycle "
        "watched); replaced at = share of TTL when the token was replaced",
        table(header, rows),
    ]


def api_calls(results: Sequence[Figures], passes: Sequence[tuple[int, Refresh]]) -> list[str]:
    """Calls per binding for every size, and per exchange for the largest refresh pass."""
    base = results[0]
    largest = passes[-1:]
    kinds = sorted(
        {kind for f in results for kind in f.api_calls}
        | {kind for _, r in largest for kind in r.api_calls},
        key=lambda kind: (-base.api_calls[kind], kind),
    )
    header = ["call", *[f"N={f.n}" for f in results], *[f"refresh N={n}" for n, _ in largest]]
    rows = [
        [
            kind,
            *[f"{f.api_calls[kind] / f.n:.2f}" for f in results],
            *[f"{r.api_calls[kind] / max(r.exchanges, 1):.2f}" for _, r in largest],
        ]
        for kind in kinds
    ]
    return [
        "\nKubernetes API calls per binding in the initial pass"
        + (", and per exchange in the largest refresh pass:" if passes else ":"),
        table(header, rows),
    ]


def notes(results: Sequence[Figures]) -> list[str]:
    """Per size: writes after the restart, its peak RSS, failed requests, log problems."""
    out: list[str] = []
    for f in results:
        writes = ", ".join(f"{kind} {count}" for kind, count in sorted(f.restart_writes.items()))
        out.append(
            f"N={f.n}: writes after restart: {writes or 'none'}; restarted process peak RSS "
            f"{f.restart_peak_rss / MIB:.1f} MiB; failed token-service requests "
            f"{f.failed_exchanges}"
        )
        for problem, count in f.log_problems.most_common(LOG_PROBLEMS_SHOWN):
            out.append(f"    log x{count}: {problem}")
    return out


def report(results: Sequence[Figures], options: Options) -> str:
    passes = [(f.n, f.refresh) for f in results if f.refresh is not None]
    out = initial_and_restart(results, options)
    if passes:
        out += refreshes(passes, options)
    out += api_calls(results, passes)
    out += notes(results)
    return "\n".join(out)
