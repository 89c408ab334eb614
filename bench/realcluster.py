"""``--kubeconfig``: a real cluster (kind, a test cluster) in place of the emulator.

The peers still run in this process; the operator and the floor run here too and reach the
API server through :class:`~bench.proxy.CountingProxy`, which counts their requests. The
bench's own requests (seeding, readiness polls, spec changes, clean-up) use a client of their
own, straight to the server, and are not counted.

Before anything runs, :func:`preflight` checks that the server answers, that our CRDs are
installed (the bench does not install them: ``kubectl apply -f crds/``), and that the cluster
holds no ServiceAccountBinding (the operator under test watches every namespace and would act
on it) and nothing left by an earlier bench run. Everything a size creates is labelled
``bench.externalidentity.dev/run=<run id>`` and removed before the next size.
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any, cast

import urllib3
from kubernetes import client, config
from kubernetes.client.exceptions import ApiException
from kubernetes.config.config_exception import ConfigException
from support.kube.apimachinery import ApiCall

from bench.clusters import has_token, is_ready
from bench.model import GROUP, RUN_LABEL, VERSION, BenchError, Binding
from bench.proxy import CountingProxy

PLURAL = "serviceaccountbindings"
CRDS = (f"{PLURAL}.{GROUP}", f"externalidentities.{GROUP}")
#: Threads for seeding and spec changes (thousands of single-object requests).
THREADS = 16
#: Seconds to wait for the server in the preflight, per attempt.
CONNECT_TIMEOUT = 5
#: Seconds a size's namespaces may take to go once deleted.
REMOVE_TIMEOUT = 300


def load_configuration(kubeconfig: Path) -> client.Configuration:
    if not kubeconfig.is_file():
        raise BenchError(f"kubeconfig {kubeconfig} does not exist")
    configuration = client.Configuration()
    try:
        config.load_kube_config(config_file=str(kubeconfig), client_configuration=configuration)
    except (ConfigException, OSError, ValueError) as error:
        raise BenchError(f"cannot load kubeconfig {kubeconfig}: {error}") from None
    configuration.retries = 1
    configuration.connection_pool_maxsize = THREADS
    return configuration


def preflight(api: client.ApiClient, kubeconfig: Path) -> str:
    """Check the cluster is usable for the bench; return the server's version.

    Reachable (``GET /api/v1/namespaces``), our CRDs installed and served, no
    ServiceAccountBinding in the cluster, nothing left by an earlier run; each failure says
    what to do.
    """
    host = api.configuration.host
    try:
        leftovers = client.CoreV1Api(api).list_namespace(
            label_selector=RUN_LABEL, _request_timeout=CONNECT_TIMEOUT
        ).items
    except (urllib3.exceptions.HTTPError, OSError) as error:
        reason = getattr(error, "reason", None) or error
        raise BenchError(
            f"cannot reach the Kubernetes API server {host} named by {kubeconfig}: {reason}. "
            f"Is the cluster running? (`kubectl --kubeconfig {kubeconfig} cluster-info`)"
        ) from None
    except ApiException as error:
        if error.status in (401, 403):
            raise BenchError(
                f"the Kubernetes API server {host} refused the credentials in {kubeconfig}: "
                f"HTTP {error.status} {error.reason}"
            ) from None
        raise BenchError(
            f"{host} (from {kubeconfig}) answered GET /api/v1/namespaces with HTTP {error.status} "
            f"{error.reason}: is it a Kubernetes API server?"
        ) from None
    extensions = client.ApiextensionsV1Api(api)
    missing = []
    for name in CRDS:
        try:
            crd = extensions.read_custom_resource_definition(name)
        except ApiException as error:
            if error.status != 404:
                raise BenchError(f"cannot read CRD {name}: HTTP {error.status}") from None
            missing.append(name)
            continue
        if not any(v.name == VERSION and v.served for v in crd.spec.versions):
            missing.append(f"{name} (version {VERSION} not served)")
    if missing:
        raise BenchError(
            f"the CRDs are not installed in the cluster at {host}: {', '.join(missing)}. "
            f"The bench does not install them; first run "
            f"`kubectl --kubeconfig {kubeconfig} apply -f crds/`"
        )
    if leftovers:
        raise BenchError(
            "namespaces left by an earlier bench run: "
            + ", ".join(str(ns.metadata and ns.metadata.name) for ns in leftovers[:5])
            + f". Their bindings carry the operator's finalizer: with an operator running, "
            f"`kubectl --kubeconfig {kubeconfig} delete namespace -l {RUN_LABEL}`"
        )
    bindings = client.CustomObjectsApi(api).list_cluster_custom_object(
        GROUP, VERSION, PLURAL, limit=1
    )
    if cast(dict[str, Any], bindings)["items"]:
        raise BenchError(
            "the cluster already holds ServiceAccountBindings; the operator under test watches "
            "every namespace and would act on them too. Use an empty test cluster (kind)"
        )
    try:
        return str(client.VersionApi(api).get_code(_request_timeout=CONNECT_TIMEOUT).git_version)
    except ApiException:
        return "version unknown"  # the stand-in (bench.standin) does not serve /version


class RealCluster:
    """A cluster reached with ``--kubeconfig``; see the module's description."""

    poll = 1.0
    counted_by = "a counting proxy in front of the API server (bench.proxy)"

    def __init__(self, api: client.ApiClient, proxy: CountingProxy, kubeconfig: Path) -> None:
        self.kubeconfig = kubeconfig
        self.version = ""
        self._proxy = proxy
        self._core = client.CoreV1Api(api)
        self._custom = client.CustomObjectsApi(api)

    @classmethod
    @contextlib.contextmanager
    def connect(cls, kubeconfig: Path, workdir: Path) -> Iterator[RealCluster]:
        configuration = load_configuration(kubeconfig)
        with client.ApiClient(configuration) as api:
            version = preflight(api, kubeconfig)
            proxy = CountingProxy(configuration)
            proxy.start()
            try:
                cluster = cls(api, proxy, proxy.write_kubeconfig(workdir / "kubeconfig"))
                cluster.version = version
                yield cluster
            finally:
                proxy.stop()

    @staticmethod
    def _each(what: str, function: Callable[[Any], object], items: Sequence[Any]) -> None:
        """``function(item)`` for every item, :data:`THREADS` at a time; refusals are fatal."""
        try:
            with ThreadPoolExecutor(THREADS) as pool:
                for _ in pool.map(function, items):
                    pass
        except ApiException as error:
            raise BenchError(
                f"cannot {what}: HTTP {error.status} {error.reason}: {str(error.body)[:500]}"
            ) from None

    def create(self, objects: Sequence[Mapping[str, Any]]) -> None:
        kinds = ("Namespace", "ExternalIdentity", "ServiceAccountBinding")
        namespaces, identities, bindings = (
            [body for body in objects if body["kind"] == kind] for kind in kinds
        )
        self._each("create namespaces", self._core.create_namespace, namespaces)
        self._each(
            "create the ExternalIdentity",
            lambda body: self._custom.create_cluster_custom_object(
                GROUP, VERSION, "externalidentities", body
            ),
            identities,
        )
        self._each(
            "create ServiceAccountBindings",
            lambda body: self._custom.create_namespaced_custom_object(
                GROUP, VERSION, body["metadata"]["namespace"], PLURAL, body
            ),
            bindings,
        )

    def ready(self, bindings: Sequence[Binding]) -> set[int]:
        """Bindings Ready by their status; once all are, only those whose Secret has a token."""
        listed = cast(dict[str, Any], self._custom.list_cluster_custom_object(
            GROUP, VERSION, PLURAL, label_selector=RUN_LABEL, resource_version="0"
        ))["items"]
        ready_keys = {
            (obj["metadata"]["namespace"], obj["metadata"]["name"])
            for obj in listed
            if is_ready(obj)
        }
        ready = {i for i, b in enumerate(bindings) if (b.namespace, b.name) in ready_keys}
        if len(ready) < len(bindings):
            return ready
        tokens: set[tuple[str, str]] = set()
        for namespace in sorted({binding.namespace for binding in bindings}):
            for secret in self._core.list_namespaced_secret(namespace, resource_version="0").items:
                if secret.metadata is not None and has_token({"data": secret.data}):
                    tokens.add((namespace, str(secret.metadata.name)))
        return {i for i in ready if (bindings[i].namespace, bindings[i].secret) in tokens}

    def call_count(self) -> int:
        return len(self._proxy.calls)

    def calls(self, start: int, end: int | None = None) -> list[ApiCall]:
        return self._proxy.calls[start:end]

    def patch_bindings(self, bindings: Sequence[Binding], patch: Mapping[str, Any]) -> None:
        self._each(
            "patch ServiceAccountBindings",
            lambda b: self._custom.patch_namespaced_custom_object(
                GROUP, VERSION, b.namespace, PLURAL, b.name, dict(patch)
            ),
            bindings,
        )

    def remove(self, namespaces: Sequence[str], identities: Sequence[str]) -> None:
        """Delete the namespaces, wait until they are gone, then the identities."""
        for name in namespaces:
            with contextlib.suppress(ApiException):
                self._core.delete_namespace(name)
        deadline = time.monotonic() + REMOVE_TIMEOUT
        left = list(namespaces)
        while left:
            if time.monotonic() > deadline:
                raise BenchError(
                    f"namespaces still there {REMOVE_TIMEOUT} s after deletion: {left[:5]}; "
                    f"delete them by hand (`kubectl delete namespace -l {RUN_LABEL}`)"
                )
            time.sleep(self.poll)
            left = [name for name in left if self._exists(name)]
        for name in identities:
            with contextlib.suppress(ApiException):
                self._custom.delete_cluster_custom_object(GROUP, VERSION, "externalidentities",
                                                          name)

    def _exists(self, namespace: str) -> bool:
        try:
            self._core.read_namespace(namespace)
        except ApiException as error:
            if error.status == 404:
                return False
            raise
        return True
