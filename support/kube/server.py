"""The emulator on loopback, in a thread of its own, and :class:`KubeAPI` to use it from tests.

The server runs on a private event loop in a daemon thread, so the blocking ``kubernetes``
client works from sync tests, from async tests and from kopf's thread alike. The store is not
thread-safe: :class:`KubeAPI` hops onto the server's loop for every read or change.

:meth:`KubeAPI.outage` (or :meth:`KubeAPI.go_down` and :meth:`KubeAPI.come_back`) makes the
API unreachable for a while and brings it back on the same address with the same objects, as
a control plane restart looks to its clients.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import gzip
import importlib.resources
import json
import threading
import time
from collections.abc import Callable, Coroutine, Iterable, Iterator, Mapping
from pathlib import Path
from typing import Any, TypeVar

import kmock
import kubernetes
import yaml

from .apimachinery import ApiCall
from .emulator import KubeEmulator
from .listening import Listener
from .store import SEED_MANAGER

__all__ = ["CRD_DIR", "FALLBACK_CRDS", "KOPF_PEERING_CRDS", "KubeAPI", "RbacRule",
           "build_emulator", "load_crds", "wait_for"]

T = TypeVar("T")
CRD_DIR = Path(__file__).resolve().parents[2] / "crds"
RbacRule = tuple[str, str, str, bool]  #: (group, resource[/subresource], verb, namespaced)


def _crd(group: str, kind: str, plural: str, *, namespaced: bool, status: bool,
         schema: Mapping[str, Any] | None = None) -> dict[str, Any]:
    version: dict[str, Any] = {"name": "v1", "served": True, "storage": True}
    if group == "externalidentity.dev":
        version["name"] = "v1alpha1"
    if status:
        version["subresources"] = {"status": {}}
    if schema is not None:
        version["schema"] = {"openAPIV3Schema": schema}
    return {
        "apiVersion": "apiextensions.k8s.io/v1",
        "kind": "CustomResourceDefinition",
        "metadata": {"name": f"{plural}.{group}"},
        "spec": {
            "group": group,
            "scope": "Namespaced" if namespaced else "Cluster",
            "names": {"kind": kind, "plural": plural, "singular": kind.lower()},
            "versions": [version],
        },
    }


_PEERING_SCHEMA = {"type": "object", "x-kubernetes-preserve-unknown-fields": True}
#: kopf's own peering CRDs (as in kopf's peering.yaml).
KOPF_PEERING_CRDS = (
    _crd("kopf.dev", "ClusterKopfPeering", "clusterkopfpeerings", namespaced=False,
         status=False, schema=_PEERING_SCHEMA),
    _crd("kopf.dev", "KopfPeering", "kopfpeerings", namespaced=True, status=False,
         schema=_PEERING_SCHEMA),
)
#: Used only when crds/ lacks a file: no schema, so no pruning or defaults.
FALLBACK_CRDS = (
    _crd("externalidentity.dev", "ExternalIdentity", "externalidentities", namespaced=False,
         status=True),
    _crd("externalidentity.dev", "ServiceAccountBinding", "serviceaccountbindings",
         namespaced=True, status=True),
)


def load_crds(directory: Path = CRD_DIR) -> list[dict[str, Any]]:
    """Every CRD in ``directory``, plus a schema-less stand-in for any of ours not there."""
    crds: list[dict[str, Any]] = []
    for path in sorted(directory.glob("*.yaml")) if directory.is_dir() else []:
        with path.open(encoding="utf-8") as stream:
            crds += [
                doc
                for doc in yaml.safe_load_all(stream)
                if isinstance(doc, dict) and doc.get("kind") == "CustomResourceDefinition"
            ]
    names = {crd["metadata"]["name"] for crd in crds}
    return crds + [crd for crd in FALLBACK_CRDS if crd["metadata"]["name"] not in names]


@functools.cache
def _bundled_resources() -> str:
    """kmock's bundled built-in resources (a K3s discovery dump), read once per process."""
    packed = importlib.resources.files("kmock._internal").joinpath("resources.json.gz")
    return gzip.decompress(packed.read_bytes()).decode()


def build_emulator(crds: Iterable[Mapping[str, Any]] | None = None) -> KubeEmulator:
    emulator = KubeEmulator()
    emulator.resources.load_data(_bundled_resources())
    for crd in (*KOPF_PEERING_CRDS, *(load_crds() if crds is None else crds)):
        emulator.declare_crd(crd)
    for name in ("default", "kube-system"):
        emulator.seed({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": name}},
                      manager="kube-apiserver")
    return emulator


class _ServerThread:
    """Runs an emulator and its kmock.Server on a private event loop in a daemon thread."""

    def __init__(self, factory: Callable[[], KubeEmulator]) -> None:
        self._factory = factory
        self._ready = threading.Event()
        self._thread = threading.Thread(target=self._run, name="kube-api", daemon=True)
        self._failure: BaseException | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._stopping: asyncio.Event | None = None
        self.emulator: KubeEmulator | None = None
        self.listener: Listener | None = None
        self.url = ""
        self.errors: list[Exception] = []

    def start(self) -> None:
        self._thread.start()
        if not self._ready.wait(timeout=30):
            raise RuntimeError("the Kubernetes API emulator did not start in 30 s")
        if self._failure is not None:
            raise RuntimeError("the Kubernetes API emulator failed to start") from self._failure

    def _run(self) -> None:
        try:
            asyncio.run(self._main())
        except Exception as error:
            self._failure = error
            self.errors.append(error)
            self._ready.set()

    async def _main(self) -> None:
        self._loop = asyncio.get_running_loop()
        self._stopping = asyncio.Event()
        emulator = self._factory()
        async with emulator, kmock.Server(emulator) as server:
            self.emulator = emulator
            self.listener = Listener(server.server)
            self.url = str(server.url).rstrip("/")
            # The service-account issuer is this server, so peers discover its keys by `iss`.
            emulator.signer.issuer = self.url
            self._ready.set()
            await self._stopping.wait()
            self.errors += emulator.errors
            emulator.close_watches()
            await asyncio.sleep(0)  # let the watch handlers see the end of their streams

    def call(self, function: Callable[..., T], *args: Any, timeout: float = 30) -> T:
        """Run ``function(*args)`` on the server's loop (the store is not thread-safe)."""
        assert self._loop is not None

        async def run() -> T:
            return function(*args)

        return asyncio.run_coroutine_threadsafe(run(), self._loop).result(timeout)

    def run(self, function: Callable[[], Coroutine[Any, Any, T]], *, timeout: float = 30) -> T:
        """Await ``function()`` on the server's loop."""
        assert self._loop is not None
        return asyncio.run_coroutine_threadsafe(function(), self._loop).result(timeout)

    def stop(self) -> None:
        if self._loop is not None and self._stopping is not None and self._thread.is_alive():
            self._loop.call_soon_threadsafe(self._stopping.set)
        self._thread.join(timeout=30)


class KubeAPI:
    """A running emulator: where it is, clients for it, and views into what it holds and saw."""

    def __init__(self, server: _ServerThread, kubeconfig_path: Path) -> None:
        assert server.emulator is not None and server.listener is not None
        self._server = server
        self._listener = server.listener
        self._clients: list[kubernetes.client.ApiClient] = []
        self.emulator: KubeEmulator = server.emulator
        self.url: str = server.url
        self.kubeconfig_path = kubeconfig_path
        kubeconfig_path.write_text(json.dumps({
            "apiVersion": "v1", "kind": "Config", "current-context": "emulator",
            "clusters": [{"name": "emulator", "cluster": {"server": self.url}}],
            "users": [{"name": "emulator", "user": {"token": "emulator-token"}}],
            "contexts": [{"name": "emulator", "context": {
                "cluster": "emulator", "user": "emulator", "namespace": "default"}}],
        }, indent=2))

    @classmethod
    @contextlib.contextmanager
    def serve(
        cls, kubeconfig_path: Path, *, factory: Callable[[], KubeEmulator] = build_emulator
    ) -> Iterator[KubeAPI]:
        server = _ServerThread(factory)
        server.start()
        api = cls(server, kubeconfig_path)
        try:
            yield api
        finally:
            api.close()

    def close(self) -> None:
        for client in self._clients:
            client.close()
        self._server.stop()

    @property
    def errors(self) -> list[Exception]:
        """Exceptions the emulator raised while serving (its own bugs), after it stopped."""
        return list(self._server.errors)

    # --- clients --------------------------------------------------------------------------

    def env(self) -> dict[str, str]:
        return {"KUBECONFIG": str(self.kubeconfig_path)}

    def configuration(self) -> kubernetes.client.Configuration:
        """A fresh Configuration (never the process-wide default, which kopf's login rewrites)."""
        configuration = kubernetes.client.Configuration(host=self.url)
        configuration.api_key = {"BearerToken": "emulator-token"}
        configuration.api_key_prefix = {"BearerToken": "Bearer"}
        return configuration

    def api_client(self) -> kubernetes.client.ApiClient:
        client = kubernetes.client.ApiClient(self.configuration())
        self._clients.append(client)
        return client

    def core_v1(self) -> kubernetes.client.CoreV1Api:
        return kubernetes.client.CoreV1Api(self.api_client())

    def custom_objects(self) -> kubernetes.client.CustomObjectsApi:
        return kubernetes.client.CustomObjectsApi(self.api_client())

    def coordination_v1(self) -> kubernetes.client.CoordinationV1Api:
        return kubernetes.client.CoordinationV1Api(self.api_client())

    # --- outages ---------------------------------------------------------------------------

    @contextlib.contextmanager
    def outage(self) -> Iterator[None]:
        """Unreachable inside the block, serving again after it (even if the block raised).

        ``go_down()`` on entry, ``come_back()`` on exit: see both.
        """
        self.go_down()
        try:
            yield
        finally:
            self.come_back()

    def go_down(self) -> None:
        """Stop answering, as an API server whose process died. Does nothing if already down.

        The port refuses new connections and every open one (requests in flight, watch
        streams) is reset; this returns once no connection is left. Nothing stored is lost,
        and this object's own methods (``get``, ``create``, ``patch_object``...) still work,
        so a test can change objects while clients cannot see them.
        """
        self._server.run(self._listener.drop)

    def come_back(self, *, timeout: float = 10.0) -> None:
        """Listen again on the same host and port; return once connections are accepted.

        Same URL, same kubeconfig. Objects, resourceVersions and their history are as they
        were, so clients reconnect and watches resume from the last resourceVersion they saw.
        Does nothing if already serving. From another thread, wait for :attr:`serving`.
        """

        async def restore() -> None:
            try:
                async with asyncio.timeout(timeout):
                    await self._listener.restore()
            except TimeoutError as error:
                where = f"{self._listener.host}:{self._listener.port}"
                raise RuntimeError(f"could not listen on {where} again in {timeout} s") from error

        self._server.run(restore, timeout=timeout + 5)

    @property
    def serving(self) -> bool:
        """Whether the port accepts connections (False from ``go_down`` to ``come_back``)."""
        return self.call(lambda: self._listener.listening)

    # --- the store ------------------------------------------------------------------------

    def call(self, function: Callable[..., T], *args: Any) -> T:
        return self._server.call(function, *args)

    def get(self, resource: str, namespace: str | None, name: str) -> dict[str, Any] | None:
        """The stored object (a copy), or None. ``resource`` like ``"v1/secrets"``."""
        return self.call(self.emulator.read, resource, namespace, name)

    def versions(
        self, resource: str, namespace: str | None, name: str
    ) -> list[dict[str, Any] | None]:
        """Every version stored, oldest first; None marks a deletion."""
        return self.call(self.emulator.versions, resource, namespace, name)

    def select(self, resource: str, namespace: str | None = None) -> list[dict[str, Any]]:
        return self.call(self.emulator.select, resource, namespace)

    def create(self, body: Mapping[str, Any], *, manager: str = SEED_MANAGER) -> dict[str, Any]:
        """Create an object by the API rules, without HTTP (and without a request log entry)."""
        return self.call(functools.partial(self.emulator.seed, body, manager=manager))

    def patch_object(self, resource: str, namespace: str | None, name: str,
                     patch: Mapping[str, Any], *, manager: str = "kubectl-patch",
                     subresource: str | None = None) -> dict[str, Any]:
        """Merge-patch a stored object by the API rules (as "someone else"), without HTTP."""
        return self.call(functools.partial(
            self.emulator.patch_object, resource, namespace, name, patch, manager=manager,
            subresource=subresource))

    def delete(self, resource: str, namespace: str | None, name: str) -> None:
        """Delete a stored object by the API rules (as "someone else"), without HTTP."""
        self.call(self.emulator.delete_object, resource, namespace, name)

    def interfere(self, criteria: str, action: Callable[[KubeEmulator], object]) -> None:
        """Run ``action(emulator)`` on the server once, when the next request matching
        ``criteria`` (KMock syntax: ``"put /api/v1/namespaces/ns/secrets/name"``) arrives and
        before the API serves it: a concurrent edit landing between a client's read and write.

        ``action`` runs on the server's loop: use the emulator's methods, never HTTP.
        """
        emulator = self.emulator

        def register() -> None:
            # A reaction with only a side effect runs, then KMock disables it (it "mismatched")
            # and the request falls through to the emulated API.
            emulator[criteria] >> (lambda _request: action(emulator))

        self.call(register)

    def refuse(self, criteria: str, status: int, reason: str, message: str, *,
               times: int | None = None) -> None:
        """Answer requests matching ``criteria`` with a Status error (the first ``times`` only)."""
        error = kmock.KubernetesError(status=status, reason=reason, message=message, details={})
        view = self.emulator[criteria]

        def register() -> None:
            (view[:times] if times is not None else view) << error

        self.call(register)

    def ensure_namespace(self, name: str) -> None:
        if self.get("v1/namespaces", None, name) is None:
            self.create({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": name}})

    def compact(self) -> None:
        """etcd's compaction: watches resumed from an older resourceVersion get 410 Expired."""
        self.call(self.emulator.store.compact)

    def finish_namespace_termination(self, name: str) -> bool:
        """Act as the namespace controller for a Terminating namespace; True once it is gone."""
        return self.call(self.emulator.finish_namespace_termination, name)

    # --- what was asked -------------------------------------------------------------------

    def calls(self) -> list[ApiCall]:
        return self.call(list, self.emulator.calls)

    def clear_calls(self) -> None:
        self.call(self.emulator.calls.clear)

    def rbac_rules(self, *, succeeded_only: bool = False) -> set[RbacRule]:
        """``(group, resource[/subresource], verb, namespaced)`` for every resource request."""
        return {
            (str(call.group), str(call.rbac_resource), call.verb, call.namespaced)
            for call in self.calls()
            if call.resource is not None and (call.status < 400 or not succeeded_only)
        }

    def wait_for(
        self,
        predicate: Callable[[], T],
        *,
        timeout: float = 10.0,
        interval: float = 0.05,
        message: str = "condition",
    ) -> T:
        """Poll ``predicate`` until it returns something truthy; return that."""
        return wait_for(predicate, timeout=timeout, interval=interval, message=message)


def wait_for(
    predicate: Callable[[], T],
    *,
    timeout: float = 10.0,
    interval: float = 0.05,
    message: str = "condition",
) -> T:
    """Poll ``predicate`` until it returns something truthy; return that."""
    deadline = time.monotonic() + timeout
    while True:
        result = predicate()
        if result:
            return result
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout} s waiting for {message}")
        time.sleep(interval)
