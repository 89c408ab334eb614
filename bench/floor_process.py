"""The floor (:mod:`bench.floor`) as a child process, started and stopped like the operator.

Its arguments come from what the operator's ExternalIdentity says: the Phase peer's URL, the
STS endpoint and the signing region the operator would derive from it
(:func:`external_identity.exchange.providers.sts_endpoints.resolve_sts_target`).
"""

from __future__ import annotations

import json
import select
import signal
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any

from support.peers.phase_server import PhaseServer
from support.peers.sts_peer import StsPeer

from bench.model import RUN_LABEL, SET_LABEL, BenchError
from external_identity.exchange.providers.sts_endpoints import resolve_sts_target

ROOT = Path(__file__).resolve().parents[1]
STOP_TIMEOUT = 20
#: How long the floor may take to report after its last binding was seen Ready.
REPORT_TIMEOUT = 30


def floor_args(
    phase: PhaseServer, sts: StsPeer, *, run: str, concurrency: int
) -> tuple[str, ...]:
    target = resolve_sts_target(
        region=None, sts_endpoint=sts.endpoint, session_region=sts.env().get("AWS_REGION")
    )
    return (
        "--selector", f"{RUN_LABEL}={run},{SET_LABEL}=floor",
        "--token-service", phase.base_url,
        "--sts-endpoint", target.endpoint,
        "--region", target.region,
        "--concurrency", str(concurrency),
    )


@dataclass
class FloorProcess:
    """``python -m bench.floor ARGS``; alive until :meth:`stop` closes its stdin."""

    env: dict[str, str]
    args: tuple[str, ...]
    _process: subprocess.Popen[bytes] | None = None
    _errors: IO[bytes] | None = None
    result: dict[str, Any] = field(default_factory=dict)

    def start(self) -> None:
        self._errors = tempfile.TemporaryFile()  # noqa: SIM115 -- lives from start() to stop()
        self._process = subprocess.Popen(
            [sys.executable, "-m", "bench.floor", *self.args],
            env=self.env, cwd=ROOT,
            stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=self._errors,
        )

    @property
    def pid(self) -> int | None:
        return None if self._process is None else self._process.pid

    def reported(self) -> bool:
        """Whether the floor is done (its report is there to read)."""
        assert self._process is not None and self._process.stdout is not None
        return bool(select.select([self._process.stdout], [], [], 0)[0])

    def finish(self) -> None:
        """Read the floor's one-line report; fail if it did not issue every binding."""
        assert self._process is not None and self._process.stdout is not None
        if self.result:
            return
        stdout = self._process.stdout
        readable, _, _ = select.select([stdout], [], [], REPORT_TIMEOUT)
        line = stdout.readline() if readable else b""
        try:
            self.result = json.loads(line)
        except ValueError:
            raise BenchError(f"the floor did not report: {line!r}\n{self.stderr()}") from None
        if self.result.get("failed"):
            raise BenchError(f"the floor failed: {self.result}\n{self.stderr()}")

    def stderr(self) -> str:
        """The end of the floor's stderr; if it still runs, with its threads' stacks."""
        if self._errors is None:
            return ""
        if self._process is not None and self._process.poll() is None:
            self._process.send_signal(signal.SIGUSR1)
            time.sleep(0.5)
        self._errors.seek(0)
        return self._errors.read().decode(errors="replace")[-6000:]

    def stop(self) -> None:
        if self._process is None:
            return
        if self._process.stdin is not None:
            self._process.stdin.close()
        try:
            self._process.wait(timeout=STOP_TIMEOUT)
        except subprocess.TimeoutExpired:
            self._process.kill()
            self._process.wait()
        if self._process.stdout is not None:
            self._process.stdout.close()
        if self._errors is not None:
            self._errors.close()
        self._process = self._errors = None
