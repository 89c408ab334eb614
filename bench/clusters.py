"""Where the bindings live: the :class:`Cluster` the passes drive, and its emulator form.

A pass needs to seed objects, see which bindings are Ready, change specs and read the API
requests made so far; :class:`EmulatorCluster` does all of it on the in-process emulator's
store and call log (no HTTP, nothing counted); :class:`bench.realcluster.RealCluster` does it
against a real API server, counting through a proxy.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any, Protocol

import kmock
from support.kube.apimachinery import ApiCall
from support.kube.emulator import KubeEmulator
from support.kube.server import KubeAPI, build_emulator

from bench.model import BINDINGS, SECRETS, Binding
from bench.servers import build_bench_emulator

__all__ = ["Cluster", "EmulatorCluster", "is_ready"]


class Cluster(Protocol):
    #: The kubeconfig the operator and the floor connect with.
    kubeconfig: Path
    #: Seconds between readiness polls.
    poll: float
    #: Where API requests are counted, for the banner.
    counted_by: str

    def create(self, objects: Sequence[Mapping[str, Any]]) -> None:
        """Create Namespaces, ExternalIdentities and bindings in order; never counted."""

    def ready(self, bindings: Sequence[Binding]) -> set[int]:
        """Indexes of the bindings that are Ready (see :func:`is_ready`) with a token Secret."""

    def call_count(self) -> int:
        """How many API requests were counted so far (a mark for :meth:`calls`)."""

    def calls(self, start: int, end: int | None = None) -> list[ApiCall]:
        """The requests counted between two marks."""

    def patch_bindings(self, bindings: Sequence[Binding], patch: Mapping[str, Any]) -> None:
        """Merge-patch every binding as "someone else"; never counted."""

    def remove(self, namespaces: Sequence[str], identities: Sequence[str]) -> None:
        """Delete what a size created and wait until it is gone (no-op on a fresh emulator)."""


def is_ready(obj: Mapping[str, Any]) -> bool:
    """Ready=True/TokenIssued, for the binding's current generation."""
    status = obj.get("status") or {}
    if status.get("observedGeneration") != (obj.get("metadata") or {}).get("generation"):
        return False
    return any(
        (c.get("type"), c.get("status"), c.get("reason")) == ("Ready", "True", "TokenIssued")
        for c in status.get("conditions") or []
    )


def has_token(secret: Mapping[str, Any] | None) -> bool:
    return secret is not None and bool((secret.get("data") or {}).get("token"))


def _ready_indexes(emulator: KubeEmulator, bindings: Sequence[Binding]) -> set[int]:
    store = emulator.store
    sabs, secrets = kmock.resource(BINDINGS), kmock.resource(SECRETS)
    ready: set[int] = set()
    for index, binding in enumerate(bindings):
        obj = store.current((sabs, binding.namespace, binding.name))
        if obj is None or not is_ready(obj):
            continue
        if has_token(store.current((secrets, binding.namespace, binding.secret))):
            ready.add(index)
    return ready


class EmulatorCluster:
    """The tests' API emulator, in this process; a fresh one per size, so nothing to remove."""

    poll = 0.1
    counted_by = "the emulator's call log"

    def __init__(self, kube: KubeAPI) -> None:
        self.kube = kube
        self.kubeconfig = kube.kubeconfig_path

    @classmethod
    @contextlib.contextmanager
    def serve(cls, workdir: Path, *, stock: bool) -> Iterator[EmulatorCluster]:
        factory = build_emulator if stock else build_bench_emulator
        with KubeAPI.serve(workdir / "kubeconfig", factory=factory) as kube:
            yield cls(kube)

    def create(self, objects: Sequence[Mapping[str, Any]]) -> None:
        def seed_all(emulator: KubeEmulator) -> None:
            for body in objects:
                emulator.seed(body)

        self.kube.call(seed_all, self.kube.emulator)

    def ready(self, bindings: Sequence[Binding]) -> set[int]:
        return self.kube.call(_ready_indexes, self.kube.emulator, bindings)

    def call_count(self) -> int:
        return self.kube.call(lambda: len(self.kube.emulator.calls))

    def calls(self, start: int, end: int | None = None) -> list[ApiCall]:
        return self.kube.call(lambda: self.kube.emulator.calls[start:end])

    def patch_bindings(self, bindings: Sequence[Binding], patch: Mapping[str, Any]) -> None:
        def patch_all(emulator: KubeEmulator) -> None:
            for binding in bindings:
                emulator.patch_object(BINDINGS, binding.namespace, binding.name, patch)

        self.kube.call(patch_all, self.kube.emulator)

    def remove(self, namespaces: Sequence[str], identities: Sequence[str]) -> None:
        return None
