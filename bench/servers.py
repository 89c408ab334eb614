"""The tests' Kubernetes API emulator and Phase peer, tuned so they do not set the bench's pace.

These changes keep every request and answer the same; they only take the test servers' own
cost or limits out of the way (``--stock-emulator`` / ``--stock-peers`` turn them off).
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from unittest import mock

import aiohttp.web
import attrs
import httpx
import kmock
from support.kube import server as kube_server
from support.kube.emulator import KubeEmulator
from support.kube.server import build_emulator


@contextlib.contextmanager
def pooled_sts_calls() -> Iterator[None]:
    """Let the Phase peer reuse one connection pool for its calls to moto STS.

    The peer verifies every proof by calling STS with ``httpx.request``, which builds a new
    client, TLS context included, each time: ~20 ms of CPU in this process per exchange, more
    than the rest of the peer and moto together. Same requests, same answers, pooled.
    """
    client = httpx.Client()
    try:
        # phase_aws calls ``httpx.request``; nothing else in this process does while benching.
        with mock.patch.object(httpx, "request", client.request):
            yield
    finally:
        client.close()


@attrs.define(kw_only=True)
class BenchEmulator(KubeEmulator):
    """The tests' emulator, minus KMock's reaction matching for object requests.

    KMock decides whether a test reaction applies by checking the request against every
    request recorded so far (``request in view``), so each request costs time proportional to
    all before it: quadratic, and at a thousand bindings it, not the operator, sets the pace.
    The bench registers no reactions, so every object request would end in the store anyway;
    this serves it from there directly (the tail of ``KubeEmulator._handle``). Discovery still
    goes through KMock.
    """

    async def _handle(self, request: kmock.Request) -> aiohttp.web.StreamResponse:
        if not self._is_resource_request(request):
            return await super()._handle(request)
        return await self._respond_from_store(request)


def build_bench_emulator() -> KubeEmulator:
    """``build_emulator()`` (built-in resources, our CRDs, kopf's), as a BenchEmulator."""
    with mock.patch.object(kube_server, "KubeEmulator", BenchEmulator):
        return build_emulator()
