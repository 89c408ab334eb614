"""The real operator (``external-identity run``) as a child process, for the tests and the bench.

It runs with short retry delays and a one-second refresh margin (:data:`FAST_ARGS`), so a
failure or a short TTL shows within seconds; its output is kept for assertions.
"""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import sys
import tempfile
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import IO

import httpx

from support.zygote import Zygote

__all__ = [
    "AMBIENT_AWS_ENV",
    "COMMAND",
    "FAST_ARGS",
    "FOREIGN_ENV",
    "OperatorProcess",
    "clean_env",
    "free_port",
    "metric",
]

ARGV = ("--log-level", "DEBUG", "run")
COMMAND = (sys.executable, "-m", "external_identity", *ARGV)
FAST_ARGS = (
    "--backoff-base", "0.5",
    "--backoff-cap", "2",
    "--permanent-retry", "3",
    "--min-remaining-seconds", "1",
)
STOP_TIMEOUT = 20
#: AWS settings that would make botocore find credentials other than the test's own.
AMBIENT_AWS_ENV = (
    "AWS_PROFILE",
    "AWS_ROLE_ARN",
    "AWS_WEB_IDENTITY_TOKEN_FILE",
    "AWS_CONTAINER_CREDENTIALS_FULL_URI",
    "AWS_CONTAINER_CREDENTIALS_RELATIVE_URI",
    "AWS_SESSION_TOKEN",
)
#: Environment that would point the operator at a real cluster or a developer's AWS profile.
FOREIGN_ENV = ("KUBERNETES_SERVICE_HOST", "KUBERNETES_SERVICE_PORT", *AMBIENT_AWS_ENV)


def clean_env(*overlays: Mapping[str, str]) -> dict[str, str]:
    """This process's environment minus :data:`FOREIGN_ENV`, with ``overlays`` on top."""
    env = {key: value for key, value in os.environ.items() if key not in FOREIGN_ENV}
    for overlay in overlays:
        env.update(overlay)
    return env


@dataclass
class OperatorProcess:
    """:data:`COMMAND` + :data:`FAST_ARGS` + ``args``, its output kept in a temporary file.

    With a ``zygote`` (the tests), the process is forked from one that has already imported
    the operator, and runs the same ``main`` as :data:`COMMAND` would; without (the bench),
    it is started from scratch, import time included.
    """

    env: dict[str, str]
    args: tuple[str, ...]
    zygote: Zygote | None = None
    _process: subprocess.Popen[bytes] | None = None
    _forked: int | None = None
    _log: IO[bytes] | None = None
    #: The output of every run that has been stopped, in order.
    logs: list[str] = field(default_factory=list)

    def start(self) -> None:
        # Lives from start() to stop(); named, so a forked process can open it too.
        self._log = tempfile.NamedTemporaryFile()  # noqa: SIM115
        if self.zygote is not None:
            self._forked = self.zygote.start(
                [*ARGV, *FAST_ARGS, *self.args], self.env, self._log.name
            )
            return
        self._process = subprocess.Popen(
            [*COMMAND, *FAST_ARGS, *self.args],
            env=self.env,
            stdout=self._log,
            stderr=subprocess.STDOUT,
        )

    def stop(self) -> int | None:
        """SIGTERM, then SIGKILL after :data:`STOP_TIMEOUT`: the exit code (None if not running;
        negative: killed by that signal)."""
        return self._end(self._terminate)

    def kill(self) -> int | None:
        """SIGKILL at once, as a node failure or the OOM killer would: no goodbye to the peers."""
        return self._end(self._kill)

    def _end(self, how: Callable[[], int]) -> int | None:
        if self.pid is None or self._log is None:
            return None
        code = how()
        self._log.seek(0)
        self.logs.append(self._log.read().decode(errors="replace"))
        self._log.close()
        self._process = self._log = self._forked = None
        return code

    def _terminate(self) -> int:
        if self._process is not None:
            self._process.send_signal(signal.SIGTERM)
            try:
                return self._process.wait(timeout=STOP_TIMEOUT)
            except subprocess.TimeoutExpired:
                self._process.kill()
                return self._process.wait()
        assert self.zygote is not None and self._forked is not None
        for signum, timeout in ((signal.SIGTERM, STOP_TIMEOUT), (signal.SIGKILL, 60)):
            with contextlib.suppress(ProcessLookupError):
                os.kill(self._forked, signum)
            code = self.zygote.wait(self._forked, timeout)
            if code is not None:
                return code
        raise RuntimeError(f"operator process {self._forked} does not exit")

    def _kill(self) -> int:
        if self._process is not None:
            self._process.kill()
            return self._process.wait()
        assert self.zygote is not None and self._forked is not None
        with contextlib.suppress(ProcessLookupError):
            os.kill(self._forked, signal.SIGKILL)
        code = self.zygote.wait(self._forked, 60)
        if code is None:
            raise RuntimeError(f"operator process {self._forked} does not exit")
        return code

    @property
    def pid(self) -> int | None:
        """The running process's id (None when stopped)."""
        return self._forked if self._process is None else self._process.pid

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


def free_port() -> int:
    """A loopback port nothing listens on now (for the operator's --metrics-port)."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def metric(port: int, sample: str) -> float | None:
    """One sample (name with its labels) from the operator's /metrics; None if absent or down."""
    try:
        text = httpx.get(f"http://127.0.0.1:{port}/metrics", timeout=5).text
    except httpx.HTTPError:
        return None
    for line in text.splitlines():
        name, _, value = line.partition(" ")
        if name == sample:
            return float(value)
    return None
