"""``python -m bench``: the command line, and the run over every size with the shared peers."""

from __future__ import annotations

import argparse
import os
import sys
import time
from collections.abc import Sequence
from pathlib import Path

from support.peers.phase_server import PhaseServer
from support.peers.sts_peer import StsPeer

import bench
from bench.model import BenchError, Options
from bench.report import report
from bench.run import run_all


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m bench", description=(bench.__doc__ or "").split("\n")[0]
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
    return parser


def parse_args(argv: Sequence[str] | None) -> Options:
    parser = build_parser()
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


def banner(options: Options) -> str:
    return (
        f"external-identity-operator bench: N = {', '.join(map(str, options.sizes))} bindings, "
        f"{os.cpu_count()} CPUs. Everything is local (Kubernetes API emulator, moto STS, "
        "Phase-protocol peer); the emulator and peers share this process"
        + ("" if options.stock_emulator else ", the emulator skipping KMock's reaction matching")
        + ("." if options.stock_peers else ", the Phase peer pooling its STS connections.")
    )


def main(argv: Sequence[str] | None = None) -> int:
    options = parse_args(argv)
    print(banner(options), flush=True)
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
