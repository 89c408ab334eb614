"""The operator under test: ``external-identity run`` as a child process, and what /proc says of it.

The command line is the one the controller tests use (``tests/controller/harness.py``): short
retry delays and a one-second refresh margin, so a failure or a short TTL shows within a pass.
The bench builds it here rather than importing the test harness so that a renamed operator
flag is one constant to change (:data:`MARGIN_FLAG`).
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, TypeVar

from support.kube.server import KubeAPI
from support.peers.sts_peer import StsPeer

from bench.model import BenchError

T = TypeVar("T")

#: ``run``'s flag for the least lifetime a token keeps when it is refreshed, as
#: ``external-identity run --help`` names it (being renamed to ``--min-remaining-seconds``).
MARGIN_FLAG = "--min-remaining-seconds"
COMMAND = (sys.executable, "-m", "external_identity", "--log-level", "DEBUG", "run")
RUN_ARGS = (
    "-A",
    "--backoff-base",
    "0.5",
    "--backoff-cap",
    "2",
    "--permanent-retry",
    "3",
    MARGIN_FLAG,
    "1",
)
POLL = 0.1
STOP_TIMEOUT = 20
#: Environment that would point the operator at a real cluster or a developer's AWS profile.
FOREIGN_ENV = (
    "KUBERNETES_SERVICE_HOST",
    "KUBERNETES_SERVICE_PORT",
    "AWS_PROFILE",
    "AWS_ROLE_ARN",
    "AWS_WEB_IDENTITY_TOKEN_FILE",
    "AWS_CONTAINER_CREDENTIALS_FULL_URI",
    "AWS_CONTAINER_CREDENTIALS_RELATIVE_URI",
    "AWS_SESSION_TOKEN",
)


@dataclass
class OperatorProcess:
    """:data:`COMMAND` + :data:`RUN_ARGS` + ``args``, its output kept in a temporary file."""

    env: dict[str, str]
    args: tuple[str, ...]
    _process: subprocess.Popen[bytes] | None = None
    _log: IO[bytes] | None = None
    #: The output of every run that has been stopped, in order.
    logs: list[str] = field(default_factory=list)

    def start(self) -> None:
        self._log = tempfile.TemporaryFile()  # noqa: SIM115 -- lives from start() to stop()
        self._process = subprocess.Popen(
            [*COMMAND, *RUN_ARGS, *self.args],
            env=self.env,
            stdout=self._log,
            stderr=subprocess.STDOUT,
        )

    def stop(self) -> None:
        if self._process is None or self._log is None:
            return
        self._process.send_signal(signal.SIGTERM)
        try:
            self._process.wait(timeout=STOP_TIMEOUT)
        except subprocess.TimeoutExpired:
            self._process.kill()
            self._process.wait()
        self._log.seek(0)
        self.logs.append(self._log.read().decode(errors="replace"))
        self._log.close()
        self._process = self._log = None

    @property
    def pid(self) -> int | None:
        """The running process's id (None when stopped)."""
        return None if self._process is None else self._process.pid

    @property
    def output(self) -> str:
        """Everything every run of the process wrote (stdout and stderr)."""
        current = ""
        if self._log is not None:
            self._log.flush()
            self._log.seek(0)
            current = self._log.read().decode(errors="replace")
            self._log.seek(0, os.SEEK_END)
        return "".join(self.logs) + current


def operator_env(kube: KubeAPI, sts: StsPeer) -> dict[str, str]:
    """This process's environment, minus :data:`FOREIGN_ENV`, pointed at the emulator and moto."""
    env = {key: value for key, value in os.environ.items() if key not in FOREIGN_ENV}
    return {**env, **sts.env(), **kube.env()}


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
