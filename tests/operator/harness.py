"""The real operator (`external-identity run`, a separate process) against the test API and peers.

Objects are applied over real HTTP with the kubernetes client; the operator reaches
the emulator through a kubeconfig, the token-service peer and moto STS over loopback.
"""

from __future__ import annotations

import base64
import time
from collections.abc import Callable, Iterator
from typing import Any, TypeVar

from kubernetes.client import V1ObjectMeta, V1Secret
from kubernetes.client.exceptions import ApiException
from support.kube.server import KubeAPI
from support.kube.server import wait_for as poll
from support.operator import free_port as free_port  # re-exported for the tests
from support.operator import metric as metric
from support.peers.phase_server import PhaseServer
from support.peers.sts_peer import StsPeer

T = TypeVar("T")

GROUP, VERSION = "externalidentity.dev", "v1alpha1"
NAMESPACE = "payments"


def wait_for(predicate: Callable[[], T], *, timeout: float = 20, message: str = "condition") -> T:
    return poll(predicate, timeout=timeout, message=message)


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
                # Any account: tests of which accounts an identity allows list their own.
                "serviceAccounts": [{"id": "*"}],
            },
        }
        body["spec"].update(spec)
        return body

    def apply_identity(self, name: str = "local-aws", **spec: Any) -> dict[str, Any]:
        body = self.identity_body(name, **spec)
        return self.custom.create_cluster_custom_object(GROUP, VERSION, "externalidentities", body)

    def apply_binding(self, account_id: str, **options: Any) -> dict[str, Any]:
        """Create the binding :meth:`binding_body` describes."""
        return self.custom.create_namespaced_custom_object(
            GROUP, VERSION, NAMESPACE, "serviceaccountbindings",
            self.binding_body(account_id, **options),
        )

    def binding_body(
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
        return body

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

    def apply_apps(self, account_id: str, count: int) -> list[str]:
        """Bindings app-0, app-1, … (Secrets token-0, …) with a long TTL; their names."""
        names = [f"app-{index}" for index in range(count)]
        for index, name in enumerate(names):
            self.apply_binding(account_id, name=name, secret=f"token-{index}", ttl=600)
        return names

    def secret(self, name: str = "phase-service-token") -> Any | None:
        try:
            return self.core.read_namespaced_secret(name, NAMESPACE)
        except ApiException as error:
            if error.status == 404:
                return None
            raise

    def token(self, name: str = "phase-service-token") -> str | None:
        secret = self.secret(name)
        if secret is None or not secret.data or "token" not in secret.data:
            return None
        return base64.b64decode(secret.data["token"]).decode()

    def foreign_secret(self, name: str = "phase-service-token") -> Any:
        """A Secret someone else made, which the operator must never touch."""
        return self.core.create_namespaced_secret(NAMESPACE, V1Secret(
            metadata=V1ObjectMeta(name=name),
            data={"token": base64.b64encode(b"someone else's").decode()},
        ))

    def events(self) -> list[Any]:
        return list(self.core.list_namespaced_event(NAMESPACE).items)

    def watch_tokens(self, seconds: float) -> Iterator[tuple[float, str | None]]:
        """(wall-clock time, token) every 50 ms for ``seconds``."""
        deadline = time.monotonic() + seconds
        while time.monotonic() < deadline:
            yield time.time(), self.token()
            time.sleep(0.05)
