"""A stand-in for a real cluster, to try ``python -m bench --kubeconfig`` where there is none.

The tests' API emulator, served over HTTP by a process of its own (so the bench reaches it only
through its kubeconfig, as it would a cluster), playing the namespace controller: a deleted
namespace's objects are deleted (finalizers apply) and the namespace goes once it is empty.
It is not a real API server (no managedFields growth of a real one, no garbage collector, no
admission): it checks the bench's cluster mode, not the operator's behaviour on a cluster.

    .venv/bin/python -m bench.standin /tmp/standin.kubeconfig &          # until SIGTERM/Ctrl-C
    .venv/bin/python -m bench --kubeconfig /tmp/standin.kubeconfig --sizes 20,50
    .venv/bin/python -m bench.standin /tmp/bare.kubeconfig --no-crds &   # the CRD check fails
"""

from __future__ import annotations

import argparse
import signal
import sys
import threading
from collections.abc import Sequence
from pathlib import Path
from types import FrameType

from support.kube.emulator import KubeEmulator
from support.kube.server import KubeAPI, build_emulator

from bench.servers import build_bench_emulator

#: Seconds between the namespace controller's rounds.
ROUND = 0.2


def finish_terminating(emulator: KubeEmulator) -> None:
    for namespace in emulator.select("v1/namespaces"):
        if namespace["metadata"].get("deletionTimestamp"):
            emulator.finish_namespace_termination(namespace["metadata"]["name"])


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.standin", description=__doc__)
    parser.add_argument("kubeconfig", type=Path, help="where to write the kubeconfig")
    parser.add_argument(
        "--no-crds", action="store_true", help="declare none of our CRDs (a cluster without them)"
    )
    args = parser.parse_args(argv)
    stopping = threading.Event()

    def stop(_signal: int, _frame: FrameType | None) -> None:
        stopping.set()

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    factory = (lambda: build_emulator(crds=[])) if args.no_crds else build_bench_emulator
    with KubeAPI.serve(args.kubeconfig, factory=factory) as kube:
        print(f"API emulator at {kube.url}; kubeconfig {args.kubeconfig}", flush=True)
        while not stopping.wait(ROUND):
            kube.call(finish_terminating, kube.emulator)
    return 0


if __name__ == "__main__":
    sys.exit(main())
