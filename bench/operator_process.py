"""The programs under test as child processes, and what /proc says of them.

The operator is :class:`support.operator.OperatorProcess` (the controller tests' command line:
short retry delays and a one-second refresh margin, so a failure or a short TTL shows within a
pass); the floor is :class:`bench.floor_process.FloorProcess`. Both are measured the same way:
peak RSS (``VmHWM``) and CPU time read from /proc while the process is alive.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable
from pathlib import Path
from typing import Protocol, TypeVar

from support.operator import OperatorProcess, clean_env
from support.peers.sts_peer import StsPeer

from bench.model import BenchError

__all__ = [
    "READY_GAUGE",
    "OperatorProcess",
    "Program",
    "alive",
    "proc_cpu_seconds",
    "proc_status_kib",
    "program_env",
    "running_pid",
    "wait_until",
]

#: The operator's count of Ready bindings (what a restart is waited on).
READY_GAUGE = "external_identity_bindings_ready"

T = TypeVar("T")


class Program(Protocol):
    """A child process under test: the operator or the floor."""

    def start(self) -> None: ...

    @property
    def pid(self) -> int | None: ...


def program_env(kubeconfig: Path, sts: StsPeer) -> dict[str, str]:
    """This process's environment, minus what points elsewhere, aimed at the cluster and moto."""
    return clean_env(sts.env(), {"KUBECONFIG": str(kubeconfig)})


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


def alive(program: Program) -> bool:
    pid = program.pid
    if pid is None:
        return False
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except FileNotFoundError:
        return False
    return state not in ("Z", "X")


def running_pid(program: Program) -> int:
    pid = program.pid
    if pid is None:
        raise BenchError("the program under test is not running")
    return pid


def wait_until(
    program: Program,
    check: Callable[[], T | None],
    *,
    timeout: float,
    what: str,
    poll: float = 0.1,
) -> T:
    """Poll ``check`` until it returns something; give up if the program dies or time is up."""
    deadline = time.monotonic() + timeout
    while True:
        result = check()
        if result is not None:
            return result
        if not alive(program):
            raise BenchError(f"the program under test exited while waiting for {what}")
        if time.monotonic() > deadline:
            raise BenchError(f"timed out after {timeout:.0f} s waiting for {what}")
        time.sleep(poll)
