"""The real operator (`external-identity run`, a separate process) against the test API and peers.

Objects are applied over real HTTP with the kubernetes client; the operator reaches
the emulator through a kubeconfig, the token-service peer and moto STS over loopback.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any, TypeVar

import httpx
from kubernetes.client.exceptions import ApiException
from support.kube.server import KubeAPI
from support.kube.server import wait_for as poll
from support.peers.phase_server import PhaseServer
from support.peers.sts_peer import StsPeer

T = TypeVar("T")

GROUP, VERSION = "externalidentity.dev", "v1alpha1"
NAMESPACE = "payments"
FAST_ARGS = (
    "--backoff-base",
    "0.5",
    "--backoff-cap",
    "2",
    "--permanent-retry",
    "3",
    "--min-remaining-seconds",
    "1",
)


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def metric(port: int, name: str) -> float | None:
    """One unlabelled sample from the operator's /metrics, None if absent or unreachable."""
    try:
        text = httpx.get(f"http://127.0.0.1:{port}/metrics", timeout=5).text
    except httpx.HTTPError:
        return None
    for line in text.splitlines():
        sample, _, value = line.partition(" ")
        if sample == name:
            return float(value)
    return None


def wait_for(predicate: Callable[[], T], *, timeout: float = 20, message: str = "condition") -> T:
    return poll(predicate, timeout=timeout, message=message)


@dataclass
class OperatorProcess:
    env: dict[str, str]
    args: tuple[str, ...]
    _process: subprocess.Popen[bytes] | None = None
    _log: Any = None
    logs: list[str] = field(default_factory=list)

    def start(self) -> None:
        self._log = tempfile.TemporaryFile()  # noqa: SIM115 -- lives from start() to stop()
        self._process = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "external_identity",
                "--log-level",
                "DEBUG",
                "run",
                "-A",
                *FAST_ARGS,
                *self.args,
            ],
            env=self.env,
            stdout=self._log,
            stderr=subprocess.STDOUT,
        )

    def stop(self) -> None:
        if self._process is None:
            return
        self._process.send_signal(signal.SIGTERM)
        try:
            self._process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            self._process.kill()
            self._process.wait()
        self._log.seek(0)
        self.logs.append(self._log.read().decode(errors="replace"))
        self._log.close()
        self._process = None

    @property
    def pid(self) -> int | None:
        """The running process's id (None when stopped)."""
        return None if self._process is None else self._process.pid

    @property
    def output(self) -> str:
        """Everything every run of the process wrote (stdout and stderr)."""
        current = ""
        if self._process is not None:
            self._log.flush()
            self._log.seek(0)
            current = self._log.read().decode(errors="replace")
            self._log.seek(0, os.SEEK_END)
        return "".join(self.logs) + current


class Cluster:
    """Kubernetes-side helpers: apply our resources, read Secrets, statuses and events."""

    def __init__(self, kube: KubeAPI, phase: PhaseServer, sts: StsPeer) -> None:
        self.kube = kube
        self.phase = phase
        self.sts = sts
        self.core = kube.core_v1()
        self.custom = kube.custom_objects()
        kube.ensure_namespace(NAMESPACE)

    def identity_body(self, name: str = "local-aws", **spec: Any) -> dict[str, Any]:
        body: dict[str, Any] = {
            "apiVersion": f"{GROUP}/{VERSION}",
            "kind": "ExternalIdentity",
            "metadata": {"name": name},
            "spec": {
                "provider": "aws-iam",
                "tokenService": {"host": self.phase.base_url},
                "defaultTTL": 30,
                "maxTTL": 3600,
                "aws": {"stsEndpoint": self.sts.endpoint},
            },
        }
        body["spec"].update(spec)
        return body

    def apply_identity(self, name: str = "local-aws", **spec: Any) -> dict[str, Any]:
        body = self.identity_body(name, **spec)
        return self.custom.create_cluster_custom_object(GROUP, VERSION, "externalidentities", body)

    def apply_binding(
        self,
        account_id: str,
        *,
        name: str = "payments-api",
        ttl: int | None = 6,
        identity: str = "local-aws",
        secret: str = "phase-service-token",
        **spec: Any,
    ) -> dict[str, Any]:
        body: dict[str, Any] = {
            "apiVersion": f"{GROUP}/{VERSION}",
            "kind": "ServiceAccountBinding",
            "metadata": {"name": name, "namespace": NAMESPACE},
            "spec": {
                "externalIdentityRef": {"name": identity},
                "serviceAccountId": account_id,
                "secret": {
                    "name": secret,
                    "keys": {"bearerToken": "bearerToken", "expiresAt": "expiresAt"},
                },
            },
        }
        if ttl is not None:
            body["spec"]["ttl"] = ttl
        body["spec"].update(spec)
        return self.custom.create_namespaced_custom_object(
            GROUP, VERSION, NAMESPACE, "serviceaccountbindings", body
        )

    def binding(self, name: str = "payments-api") -> dict[str, Any]:
        return self.custom.get_namespaced_custom_object(
            GROUP, VERSION, NAMESPACE, "serviceaccountbindings", name
        )

    def ready(self, name: str = "payments-api") -> dict[str, Any] | None:
        """The binding's Ready condition, if any."""
        conditions = (self.binding(name).get("status") or {}).get("conditions") or []
        return next((c for c in conditions if c["type"] == "Ready"), None)

    def wait_ready(
        self, reason: str, name: str = "payments-api", timeout: float = 20
    ) -> dict[str, Any]:
        return wait_for(
            lambda: (c := self.ready(name)) is not None and c["reason"] == reason and c,
            timeout=timeout,
            message=f"Ready reason {reason}",
        )

    def secret(self, name: str = "phase-service-token") -> Any | None:
        try:
            return self.core.read_namespaced_secret(name, NAMESPACE)
        except ApiException as error:
            if error.status == 404:
                return None
            raise

    def token(self, name: str = "phase-service-token") -> str | None:
        import base64

        secret = self.secret(name)
        if secret is None or not secret.data or "token" not in secret.data:
            return None
        return base64.b64decode(secret.data["token"]).decode()

    def events(self) -> list[Any]:
        return list(self.core.list_namespaced_event(NAMESPACE).items)

    def watch_tokens(self, seconds: float) -> Iterator[tuple[float, str | None]]:
        """(wall-clock time, token) every 50 ms for ``seconds``."""
        deadline = time.monotonic() + seconds
        while time.monotonic() < deadline:
            yield time.time(), self.token()
            time.sleep(0.05)
