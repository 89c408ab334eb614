"""Pytest fixtures: a Kubernetes API on loopback, and the real operator (kopf) against it.

Load with ``pytest_plugins = ["support.kube.fixtures"]``.

============  =========  ===================================================================
fixture       scope      yields
============  =========  ===================================================================
kube_api      function   :class:`KubeAPI`: a fresh :class:`~.emulator.KubeEmulator` served
                         on ``http://127.0.0.1:<free port>`` from its own thread, with the
                         built-in resources, kopf's peering CRDs and our CRDs (read from
                         ``crds/``), namespaces ``default`` and ``kube-system``, and a
                         kubeconfig in ``tmp_path``. Teardown fails the test if the
                         emulator itself crashed on a request.
kube_env      function   the same :class:`KubeAPI`, with ``$KUBECONFIG`` (and the kubernetes
                         client's import-time default path) pointing at it and the in-cluster
                         variables removed, so code that loads "the" Kubernetes config can
                         only reach the emulator (:func:`pointing_at`).
run_operator  function   ``run_operator(paths=..., modules=..., args=...)``: a context
                         manager running ``kopf run`` in-process (:class:`kopf.testing.KopfRunner`)
                         against ``kube_api``; see :func:`operator_running`.
============  =========  ===================================================================

The server runs in a thread with its own event loop, so the blocking ``kubernetes`` client
works from sync tests, from async tests, and from kopf's thread alike. Read the store through
:class:`~.server.KubeAPI` (``get``, ``versions``, ``select``), which hops onto that loop.

To test a control plane restart, ``with kube_api.outage(): ...`` (or ``kube_api.go_down()`` /
``kube_api.come_back()``) refuses connections and resets open ones for the block, then serves
the same objects on the same URL again.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import Any
from unittest import mock

import kopf
import kubernetes
import pytest
from kopf._core.intents.registries import SmartOperatorRegistry
from kopf.testing import KopfRunner

from .server import KubeAPI

__all__ = [
    "DEFAULT_OPERATOR_ARGS",
    "KubeAPI",
    "kube_api",
    "kube_env",
    "operator_running",
    "pointing_at",
    "run_operator",
]

DEFAULT_OPERATOR_ARGS: tuple[str, ...] = ("--all-namespaces", "--standalone", "--verbose")
#: Environment variables that would point a client somewhere else than the emulator.
_FOREIGN_ENV = ("KUBERNETES_SERVICE_HOST", "KUBERNETES_SERVICE_PORT", "KOPF_RUN_NAMESPACE")


@contextlib.contextmanager
def operator_running(
    kube: KubeAPI,
    *,
    paths: Sequence[str | Path] = (),
    modules: Sequence[str] = (),
    args: Sequence[str] = DEFAULT_OPERATOR_ARGS,
    registry: kopf.OperatorRegistry | None = None,
    settings: kopf.OperatorSettings | None = None,
    timeout: float = 30.0,
) -> Iterator[KopfRunner]:
    """``kopf run ARGS PATHS -m MODULES`` in a thread of this process, against ``kube``.

    ``$KUBECONFIG`` points at the emulator while it runs (kopf's login reads it) and the
    in-cluster variables are hidden. Files in ``paths`` are executed anew each run, so they get
    a fresh registry (the previous default registry is restored afterwards); modules are
    imported once per process and keep the default registry. Leaving the block stops the
    operator and re-raises whatever made it fail; ``runner.output`` has its log.
    """
    if registry is None and paths:
        # Not kopf.OperatorRegistry(): only the "smart" one carries kopf's default login
        # handlers (login_via_client reading the kubeconfig); a plain one cannot log in.
        registry = SmartOperatorRegistry()
    cli = ["run", *args, *(str(path) for path in paths)]
    for module in modules:
        cli += ["-m", module]
    previous = kopf.get_default_registry()
    try:
        with (
            pointing_at(kube),
            KopfRunner(cli, registry=registry, settings=settings, timeout=timeout) as runner,
        ):
            yield runner
    finally:
        kopf.set_default_registry(previous)


@contextlib.contextmanager
def pointing_at(kube: KubeAPI) -> Iterator[None]:
    """Make "the" kubeconfig the emulator's, for code that loads the default config.

    Besides ``$KUBECONFIG``, this patches the kubernetes client's default location, which it
    reads from the environment once, at import (so setting the variable later does nothing and
    ``~/.kube/config`` — maybe a real cluster — would be used). The client's process-wide
    default Configuration, which ``load_kube_config()`` overwrites, is restored afterwards.
    """
    environ = {key: value for key, value in os.environ.items() if key not in _FOREIGN_ENV}
    path = str(kube.kubeconfig_path)
    default = kubernetes.client.Configuration.get_default_copy()
    try:
        with (
            mock.patch.dict(os.environ, {**environ, **kube.env()}, clear=True),
            mock.patch.object(kubernetes.config.kube_config, "KUBE_CONFIG_DEFAULT_LOCATION", path),
            mock.patch.object(kubernetes.config, "KUBE_CONFIG_DEFAULT_LOCATION", path),
        ):
            yield
    finally:
        # kopf's login calls load_kube_config(), which rewrites the client's default.
        kubernetes.client.Configuration.set_default(default)


@pytest.fixture
def kube_api(tmp_path: Path) -> Iterator[KubeAPI]:
    with KubeAPI.serve(tmp_path / "kubeconfig") as api:
        yield api
    if api.errors:
        pytest.fail(f"the Kubernetes API emulator crashed while serving: {api.errors!r}")


@pytest.fixture
def kube_env(kube_api: KubeAPI) -> Iterator[KubeAPI]:
    with pointing_at(kube_api):
        yield kube_api


@pytest.fixture
def run_operator(kube_api: KubeAPI) -> Callable[..., contextlib.AbstractContextManager[KopfRunner]]:
    def run(**kwargs: Any) -> contextlib.AbstractContextManager[KopfRunner]:
        return operator_running(kube_api, **kwargs)

    return run
