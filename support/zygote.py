"""A process that has imported the operator once and forks a fresh one for each test.

Starting ``python -m external_identity run`` costs one to three seconds of CPU in imports (the
kubernetes client, botocore, kopf, pydantic models) before the operator does anything; the
tests start about a hundred operators. The zygote pays that once: each child is forked from it
with the imports done and runs exactly what ``python -m external_identity`` runs — the same
``main(argv)``, in a process of its own, with its own environment, signals and exit code.
The bench never uses it: start-up cost is part of what it measures.

Protocol: one JSON request per line on stdin, one JSON answer per line on stdout.
``{"start": {"argv": [...], "env": {...}, "log": path}}`` → ``{"pid": n}``;
``{"wait": pid, "timeout": seconds}`` → ``{"code": n | null}`` (null: still running).
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
import time
from typing import IO, Any

__all__ = ["Zygote"]

#: What ``python -m external_identity run`` imports before it acts (kopf too: it is imported
#: by the operator later, and by then the child's own start-up order is what tests observe).
PRELOADED = (
    "external_identity.cli.main",
    "external_identity.cli.run",
    "external_identity.controller.running",
    "external_identity.controller.assembly",
    "external_identity.controller.handlers",
    "external_identity.exchange.providers.aws",
    "external_identity.exchange.providers.azure",
    "kubernetes.client",
)


class Zygote:
    """The test side: start the zygote once, then start and wait for operators through it."""

    def __init__(self) -> None:
        self._process = subprocess.Popen(
            [sys.executable, "-m", "support.zygote"],
            stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True,
        )
        self._lock = threading.Lock()

    def _ask(self, request: dict[str, Any]) -> dict[str, Any]:
        with self._lock:
            assert self._process.stdin is not None and self._process.stdout is not None
            self._process.stdin.write(json.dumps(request) + "\n")
            self._process.stdin.flush()
            answer = self._process.stdout.readline()
        if not answer:
            raise RuntimeError("the zygote exited")
        reply: dict[str, Any] = json.loads(answer)
        return reply

    def start(self, argv: list[str], env: dict[str, str], log: str) -> int:
        return int(self._ask({"start": {"argv": argv, "env": env, "log": log}})["pid"])

    def wait(self, pid: int, timeout: float) -> int | None:
        code = self._ask({"wait": pid, "timeout": timeout})["code"]
        return None if code is None else int(code)

    def close(self) -> None:
        if self._process.stdin is not None:
            self._process.stdin.close()
        self._process.wait(timeout=10)


def _child(argv: list[str], env: dict[str, str], log: str) -> None:
    """In the forked child: become ``python -m external_identity ARGV`` and never return."""
    code = 1
    try:
        os.setpgid(0, 0)
        for signum in (signal.SIGTERM, signal.SIGINT, signal.SIGCHLD):
            signal.signal(signum, signal.SIG_DFL)
        output = os.open(log, os.O_WRONLY | os.O_APPEND)
        os.dup2(output, 1)
        os.dup2(output, 2)
        os.close(output)
        devnull = os.open(os.devnull, os.O_RDONLY)
        os.dup2(devnull, 0)
        os.close(devnull)
        sys.stdin = open(0, closefd=False)  # noqa: SIM115 - fd 0 stays open for the process
        sys.stdout = open(1, "w", buffering=1, closefd=False)  # noqa: SIM115
        sys.stderr = open(2, "w", buffering=1, closefd=False)  # noqa: SIM115
        os.environ.clear()
        os.environ.update(env)
        _reread_environment()
        sys.argv = ["external-identity", *argv]
        from external_identity.cli.main import main

        code = main(argv)
    except SystemExit as stop:
        code = stop.code if isinstance(stop.code, int) else 1
    except BaseException:  # report it as the real process would, then exit like it
        import traceback

        traceback.print_exc()
    finally:
        sys.stdout.flush()
        sys.stderr.flush()
        os._exit(code)


def _reread_environment() -> None:
    """What preloaded modules read from the environment at import, read again as a fresh
    import in this environment would: the kubeconfig's default path (kubernetes), and the
    verified SSL context aiohttp builds once, from ``SSL_CERT_FILE`` (azure-identity's transport
    and kopf use it)."""
    from aiohttp import connector
    from kubernetes.config import kube_config

    kube_config.KUBE_CONFIG_DEFAULT_LOCATION = os.environ.get("KUBECONFIG", "~/.kube/config")
    connector._SSL_CONTEXT_VERIFIED = connector._make_ssl_context(True)  # type: ignore[attr-defined]


def _wait(pid: int, timeout: float) -> int | None:
    deadline = time.monotonic() + timeout
    while True:
        done, status = os.waitpid(pid, os.WNOHANG)
        if done:
            return os.waitstatus_to_exitcode(status)
        if time.monotonic() >= deadline:
            return None
        time.sleep(0.02)


def _serve(requests: IO[str], answers: IO[str]) -> None:
    for line in requests:
        request = json.loads(line)
        if "start" in request:
            sys.stdout.flush()
            sys.stderr.flush()
            pid = os.fork()
            if pid == 0:
                _child(**request["start"])
            answer: dict[str, Any] = {"pid": pid}
        else:
            answer = {"code": _wait(int(request["wait"]), float(request["timeout"]))}
        answers.write(json.dumps(answer) + "\n")
        answers.flush()


if __name__ == "__main__":
    import importlib

    for module in PRELOADED:
        importlib.import_module(module)
    _serve(sys.stdin, sys.stdout)
