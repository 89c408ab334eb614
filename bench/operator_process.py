"""The operator under test (:class:`support.operator.OperatorProcess`) and what /proc says of it.

It runs with the controller tests' command line: short retry delays and a one-second refresh
margin, so a failure or a short TTL shows within a pass.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable
from pathlib import Path
from typing import TypeVar

from support.kube.server import KubeAPI
from support.operator import OperatorProcess, clean_env
from support.peers.sts_peer import StsPeer

from bench.model import BenchError

T = TypeVar("T")

POLL = 0.1


def operator_env(kube: KubeAPI, sts: StsPeer) -> dict[str, str]:
    """This process's environment, minus what points elsewhere, aimed at the emulator and moto."""
    return clean_env(sts.env(), kube.env())


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


def alive(operator: OperatorProcess) -> bool:
    pid = operator.pid
    if pid is None:
        return False
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except FileNotFoundError:
        return False
    return state not in ("Z", "X")


def running_pid(operator: OperatorProcess) -> int:
    pid = operator.pid
    if pid is None:
        raise BenchError("the operator is not running")
    return pid


def wait_until(
    operator: OperatorProcess, check: Callable[[], T | None], *, timeout: float, what: str
) -> T:
    """Poll ``check`` until it returns something; give up if the operator dies or time is up."""
    deadline = time.monotonic() + timeout
    while True:
        result = check()
        if result is not None:
            return result
        if not alive(operator):
            raise BenchError(f"the operator exited while waiting for {what}")
        if time.monotonic() > deadline:
            raise BenchError(f"timed out after {timeout:.0f} s waiting for {what}")
        time.sleep(POLL)
