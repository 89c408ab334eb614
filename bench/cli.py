"""``python -m bench``: the command line, and the run over every size with the shared peers."""

from __future__ import annotations

import argparse
import contextlib
import os
import secrets
import sys
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path

from support.peers.phase_server import PhaseServer
from support.peers.sts_peer import StsPeer

import bench
from bench.model import BenchError, Options
from bench.realcluster import RealCluster
from bench.report import report
from bench.run import OpenCluster, emulators, run_all
from external_identity.controller.settings import OperatorSettings

CONCURRENCY_FLAG = "--max-concurrent-exchanges"


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m bench", description=(bench.__doc__ or "").split("\n")[0]
    )
    parser.add_argument(
        "--sizes", default="100,1000",
        help="binding counts, comma-separated (default: %(default)s)",
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
        help="extra argument for `external-identity run` (repeatable), e.g. "
        f"--operator-arg={CONCURRENCY_FLAG}=32 (the floor then runs at 32 too)",
    )
    parser.add_argument("--logs", type=Path, help="save each size's operator log here")
    parser.add_argument(
        "--kubeconfig", type=Path, metavar="PATH",
        help="run against this real cluster (kind, a test cluster) instead of the emulator; "
        "the CRDs must be installed already (kubectl apply -f crds/) and the cluster must hold "
        "no ServiceAccountBinding; requests are counted by a local proxy (see bench.proxy)",
    )
    parser.add_argument(
        "--stock-peers", action="store_true",
        help="the Phase peer as the tests run it: a new HTTP client per STS call (slower)",
    )
    parser.add_argument(
        "--stock-emulator", action="store_true",
        help="serve object requests through KMock's reaction matching, as the tests do "
        "(cost grows with every request served: quadratic)",
    )
    return parser


def exchange_concurrency(operator_args: Sequence[str]) -> int:
    """The operator's ``--max-concurrent-exchanges`` as passed, else its default."""
    value: str | None = None
    for index, arg in enumerate(operator_args):
        if arg.startswith(CONCURRENCY_FLAG + "="):
            value = arg.split("=", 1)[1]
        elif arg == CONCURRENCY_FLAG and index + 1 < len(operator_args):
            value = operator_args[index + 1]
    return OperatorSettings().max_concurrent_exchanges if value is None else int(value)


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
    try:
        concurrency = exchange_concurrency(args.operator_arg)
    except ValueError:
        parser.error(f"--operator-arg {CONCURRENCY_FLAG} needs a number")
    if args.kubeconfig is not None and args.stock_emulator:
        parser.error("--stock-emulator has no meaning with --kubeconfig")
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
        concurrency=concurrency,
        kubeconfig=args.kubeconfig,
    )


def banner(options: Options, where: str) -> str:
    peers = (
        "moto STS and the Phase-protocol peer run in this process"
        + ("" if options.stock_peers else
           " (the peer pooling its STS connections)")
    )
    return (
        f"external-identity-operator bench: N = {', '.join(map(str, options.sizes))} bindings, "
        f"{os.cpu_count()} CPUs, {CONCURRENCY_FLAG}={options.concurrency} (the floor's too). "
        f"{where}; {peers}."
    )


def main(argv: Sequence[str] | None = None) -> int:
    options = parse_args(argv)
    started = time.monotonic()
    sts = StsPeer()
    phase = PhaseServer()
    with contextlib.ExitStack() as stack:
        try:
            if options.kubeconfig is None:
                open_cluster: OpenCluster = emulators(options)
                run = "emulator"
                where = (
                    "Kubernetes API emulator in this process"
                    + ("" if options.stock_emulator else " (skipping KMock's reaction matching)")
                    + ", requests counted from its call log"
                )
            else:
                workdir = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="eidb-")))
                cluster = stack.enter_context(RealCluster.connect(options.kubeconfig, workdir))
                open_cluster = lambda: contextlib.nullcontext(cluster)  # noqa: E731
                run = secrets.token_hex(3)
                where = (
                    f"Real cluster {options.kubeconfig} (Kubernetes {cluster.version}, run id "
                    f"{run}), requests counted by {cluster.counted_by}"
                )
            print(banner(options, where), flush=True)
            sts.start()
            stack.callback(sts.stop)
            phase.start()
            stack.callback(phase.stop)
            results = run_all(options, sts, phase, open_cluster, run)
        except BenchError as error:
            print(f"bench FAILED: {error}", file=sys.stderr)
            return 1
    print(f"\n{report(results, options)}\n\ntotal {time.monotonic() - started:.0f} s")
    return 0
