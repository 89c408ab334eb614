"""A counting HTTP proxy in front of a real API server: every request the programs under test make.

Why a proxy (client side), and not the alternatives:

* ``apiserver_request_total`` from the server's ``GET /metrics`` counts every client of the
  server (controllers, kubelets, this bench's own polling), needs metrics RBAC, and cannot
  tell the operator's requests from anyone else's;
* wrapping the ``kubernetes`` client would need code injected into the operator's process,
  and would still miss kopf's own aiohttp client (its watches, lists and patches).

The proxy listens on plain HTTP on 127.0.0.1 only, and the operator and the floor get a
kubeconfig naming it (:meth:`CountingProxy.write_kubeconfig`, with a dummy token it throws
away). It re-sends each request to the API server with the real kubeconfig's credentials
(CA, client certificate, bearer or exec-plugin token, basic auth), and streams the answer back
as it comes, so watches behave as without it. Each request is recorded as an
:class:`~support.kube.apimachinery.ApiCall`, classified exactly as the emulator's call log is.
"""

from __future__ import annotations

import asyncio
import json
import ssl
import threading
from collections.abc import Mapping
from pathlib import Path

import aiohttp
import aiohttp.web
from kubernetes import client
from support.kube import apimachinery as am
from support.kube.apimachinery import ApiCall

from bench.model import BenchError

#: Headers that belong to one connection, not to the request or answer.
HOP_BY_HOP = frozenset({
    "connection", "keep-alive", "proxy-authenticate", "proxy-authorization", "te", "trailer",
    "transfer-encoding", "upgrade", "host", "authorization", "content-length",
})


def classify(method: str, path: str, query: Mapping[str, str], status: int) -> ApiCall:
    """One request as RBAC sees it, as :mod:`support.kube.emulator` logs it."""
    parsed = am.parse_api_path(path)
    resource = parsed.plural if parsed.group is not None else None
    return ApiCall(
        verb=am.verb_of(method, name=parsed.name, params=query) if resource else method.lower(),
        group=parsed.group if resource else None,
        version=parsed.version if resource else None,
        resource=resource,
        subresource=parsed.subresource if resource else None,
        namespace=parsed.namespace,
        name=parsed.name,
        namespaced=parsed.namespace is not None,
        method=method.upper(),
        path=path,
        status=status,
        label_selector=query.get("labelSelector"),
    )


def ssl_context(configuration: client.Configuration) -> ssl.SSLContext:
    context = ssl.create_default_context(cafile=configuration.ssl_ca_cert)
    if configuration.cert_file:
        context.load_cert_chain(configuration.cert_file, configuration.key_file)
    if not configuration.verify_ssl:
        context.check_hostname = False
        context.verify_mode = ssl.CERT_NONE
    return context


class CountingProxy:
    """Forwards 127.0.0.1:PORT to ``configuration.host``; :attr:`calls` grows per request."""

    def __init__(self, configuration: client.Configuration) -> None:
        self.calls: list[ApiCall] = []
        self.url = ""
        self._configuration = configuration
        self._upstream = str(configuration.host).rstrip("/")
        self._ssl = ssl_context(configuration) if self._upstream.startswith("https") else None
        self._server_name: str | None = getattr(configuration, "tls_server_name", None)
        self._ready = threading.Event()
        self._thread = threading.Thread(target=self._run, name="counting-proxy", daemon=True)
        self._loop: asyncio.AbstractEventLoop | None = None
        self._stopping: asyncio.Event | None = None
        self._session: aiohttp.ClientSession | None = None
        self._failure: BaseException | None = None

    def start(self) -> None:
        self._thread.start()
        if not self._ready.wait(timeout=30) or self._failure is not None:
            raise BenchError(f"the counting proxy did not start: {self._failure}")

    def stop(self) -> None:
        if self._loop is not None and self._stopping is not None and self._thread.is_alive():
            self._loop.call_soon_threadsafe(self._stopping.set)
        self._thread.join(timeout=30)

    def write_kubeconfig(self, path: Path) -> Path:
        path.write_text(json.dumps({
            "apiVersion": "v1", "kind": "Config", "current-context": "bench",
            "clusters": [{"name": "bench", "cluster": {"server": self.url}}],
            "users": [{"name": "bench", "user": {"token": "replaced-by-the-proxy"}}],
            "contexts": [{"name": "bench", "context": {"cluster": "bench", "user": "bench"}}],
        }, indent=2))
        return path

    def _run(self) -> None:
        try:
            asyncio.run(self._main())
        except Exception as error:
            self._failure = error
            self._ready.set()

    async def _main(self) -> None:
        self._loop = asyncio.get_running_loop()
        self._stopping = asyncio.Event()
        connector = aiohttp.TCPConnector(limit=0, ssl=self._ssl if self._ssl else False)
        timeout = aiohttp.ClientTimeout(total=None, sock_connect=10)
        async with aiohttp.ClientSession(
            connector=connector, timeout=timeout, auto_decompress=False
        ) as self._session:
            server = aiohttp.web.Server(self._handle, handler_cancellation=True)
            runner = aiohttp.web.ServerRunner(server)
            await runner.setup()
            site = aiohttp.web.TCPSite(runner, "127.0.0.1", 0)
            await site.start()
            port = runner.addresses[0][1]
            self.url = f"http://127.0.0.1:{port}"
            self._ready.set()
            await self._stopping.wait()
            await runner.cleanup()

    def _authorization(self) -> str | None:
        """The kubeconfig's credentials (exec-plugin tokens are refreshed by the client)."""
        configuration = self._configuration
        token = configuration.get_api_key_with_prefix("BearerToken", alias="authorization")
        if token:
            return str(token)
        if configuration.username:
            return str(configuration.get_basic_auth_token())
        return None

    async def _handle(self, request: aiohttp.web.BaseRequest) -> aiohttp.web.StreamResponse:
        assert self._session is not None
        body = await request.read()
        headers = {k: v for k, v in request.headers.items() if k.lower() not in HOP_BY_HOP}
        authorization = self._authorization()
        if authorization:
            headers["Authorization"] = authorization
        query = dict(request.query)
        try:
            async with self._session.request(
                request.method, self._upstream + str(request.rel_url), headers=headers,
                data=body or None, allow_redirects=False, server_hostname=self._server_name,
                proxy=self._configuration.proxy or None,
            ) as upstream:
                self.calls.append(classify(request.method, request.path, query, upstream.status))
                response = aiohttp.web.StreamResponse(status=upstream.status,
                                                      reason=upstream.reason)
                for name, value in upstream.headers.items():
                    if name.lower() not in HOP_BY_HOP - {"content-length"}:
                        response.headers.add(name, value)
                await response.prepare(request)
                try:
                    async for chunk in upstream.content.iter_any():
                        await response.write(chunk)
                    await response.write_eof()
                except ConnectionResetError:
                    pass  # the client went away (a watch it stopped)
                return response
        except (aiohttp.ClientError, TimeoutError) as error:
            self.calls.append(classify(request.method, request.path, query, 502))
            return aiohttp.web.Response(
                status=502, text=f"counting proxy: {self._upstream}: {error}"
            )
