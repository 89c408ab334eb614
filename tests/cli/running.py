"""Run the real ``external-identity`` CLI in-process or as a subprocess and capture it."""

from __future__ import annotations

import logging
import os
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import pytest
from support.peers.phase_server import PhaseServer
from support.peers.sts_peer import StsPeer

import external_identity
from external_identity.cli.main import main


def aws_exchange(server: PhaseServer, sts: StsPeer, account_id: str) -> list[str]:
    """``exchange --mode aws-iam`` against the peers, without a destination flag."""
    return [
        "exchange",
        "--mode",
        "aws-iam",
        "--service-account-id",
        account_id,
        "--host",
        server.base_url,
        "--sts-endpoint",
        sts.endpoint,
    ]


@dataclass(frozen=True)
class CliResult:
    code: int
    out: str
    err: str


def run_cli(capsys: pytest.CaptureFixture[str], *args: str) -> CliResult:
    """In-process: same code path as the console script, environment from monkeypatch.

    The CLI installs its own logging on the root logger (bound to this test's captured
    stderr); it is put back afterwards so later tests do not write to a closed stream.
    """
    root = logging.getLogger()
    handlers, level = root.handlers[:], root.level
    try:
        code = main(list(args))
    finally:
        root.handlers[:], root.level = handlers, level
    captured = capsys.readouterr()
    return CliResult(code, captured.out, captured.err)


#: Where this interpreter found the package: the process runs that code, not an installed copy
#: (in a git worktree, the editable install points at another checkout).
SOURCE_ROOT = str(Path(external_identity.__file__).resolve().parents[1])


def run_cli_process(*args: str, env: dict[str, str], timeout: float = 60) -> CliResult:
    """A separate process, as a user runs it: nothing shared with the test's interpreter but
    the package's source."""
    completed = subprocess.run(
        [sys.executable, "-m", "external_identity", *args],
        env={"PATH": os.environ.get("PATH", ""), "HOME": os.environ.get("HOME", "/tmp"),
             "PYTHONPATH": SOURCE_ROOT, **env},
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )
    return CliResult(completed.returncode, completed.stdout, completed.stderr)
