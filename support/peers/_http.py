"""A small threaded HTTP(S) server for the test peers, on 127.0.0.1 unless told otherwise.

Tests always use the default: loopback, a free port. ``python -m support.peers.serve``
(the kind e2e peers) passes a bind address and fixed ports.

The standard library's ``ThreadingHTTPServer`` handles each connection in its
own daemon thread, so a peer that sleeps (to simulate a hang) never blocks the
others. TLS, when asked for, is negotiated in the connection's own thread.
"""

from __future__ import annotations

import contextlib
import json
import socket
import ssl
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, ClassVar, cast

__all__ = ["JsonHandler", "LoopbackServer", "url_host"]

_WILDCARDS = {"": "127.0.0.1", "0.0.0.0": "127.0.0.1", "::": "::1"}


def url_host(bind: str) -> str:
    """The host part of a URL that reaches a server bound to ``bind`` from this machine.

    A wildcard bind is reached on loopback; IPv6 literals get brackets.
    """
    host = _WILDCARDS.get(bind, bind)
    return f"[{host}]" if ":" in host else host


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True
    #: socketserver's default backlog is 5: a burst of concurrent clients (16 exchanges
    #: starting at once) would overflow it and see connections reset before being served.
    request_queue_size = 128

    def __init__(
        self,
        handler: type[BaseHTTPRequestHandler],
        ssl_context: ssl.SSLContext | None,
        owner: object,
        address: tuple[str, int],
    ) -> None:
        if ":" in address[0]:
            self.address_family = socket.AF_INET6
        super().__init__(address, handler)
        self.owner = owner
        if ssl_context is not None:
            self.socket = ssl_context.wrap_socket(
                self.socket, server_side=True, do_handshake_on_connect=False
            )


class LoopbackServer:
    """Runs one request handler class in a thread: by default on a free loopback port.

    ``host`` and ``port`` are for the standalone peers (``support.peers.serve``); tests
    keep the defaults.
    """

    def __init__(
        self,
        handler: type[BaseHTTPRequestHandler],
        *,
        owner: object,
        ssl_context: ssl.SSLContext | None = None,
        host: str = "127.0.0.1",
        port: int = 0,
    ) -> None:
        self._httpd = _Server(handler, ssl_context, owner, (host, port))
        self._thread: threading.Thread | None = None
        self.scheme = "https" if ssl_context is not None else "http"

    @property
    def port(self) -> int:
        return int(self._httpd.server_address[1])

    @property
    def base_url(self) -> str:
        """The URL this process reaches the server at (loopback for a wildcard bind)."""
        return f"{self.scheme}://{url_host(str(self._httpd.server_address[0]))}:{self.port}"

    def start(self) -> None:
        self._thread = threading.Thread(
            target=self._httpd.serve_forever,
            kwargs={"poll_interval": 0.05},
            name=f"peer-{type(self._httpd.owner).__name__}-{self.port}",
            daemon=True,
        )
        self._thread.start()

    def stop(self) -> None:
        self._httpd.shutdown()
        self._httpd.server_close()
        if self._thread is not None:
            self._thread.join(timeout=5)


class JsonHandler(BaseHTTPRequestHandler):
    """Keep-alive HTTP/1.1 handler with body reading and JSON replies."""

    protocol_version = "HTTP/1.1"
    server_version = "peer/1"
    sys_version = ""
    #: Idle keep-alive connections are dropped after this many seconds.
    timeout: ClassVar[float] = 30.0

    def setup(self) -> None:
        super().setup()
        if isinstance(self.request, ssl.SSLSocket):
            try:
                self.request.do_handshake()
            except (OSError, ssl.SSLError):
                self.close_connection = True

    def handle(self) -> None:
        try:
            super().handle()
        except (ConnectionError, TimeoutError, ssl.SSLError):
            self.close_connection = True

    def log_message(self, format: str, *args: Any) -> None:
        """Stay quiet: tests assert on recorded requests, not on stderr."""

    @property
    def owner(self) -> Any:
        return cast(_Server, self.server).owner

    def read_body(self) -> bytes:
        if "chunked" in self.headers.get("Transfer-Encoding", "").lower():
            return self._read_chunked()
        length = int(self.headers.get("Content-Length") or 0)
        return self.rfile.read(length) if length > 0 else b""

    def _read_chunked(self) -> bytes:
        parts: list[bytes] = []
        while True:
            size = int(self.rfile.readline().split(b";")[0].strip() or b"0", 16)
            if size == 0:
                while self.rfile.readline().strip():
                    pass
                return b"".join(parts)
            parts.append(self.rfile.read(size))
            self.rfile.readline()

    def send_bytes(
        self,
        status: int,
        body: bytes,
        *,
        content_type: str = "application/json",
        headers: dict[str, str] | None = None,
        declared_length: int | None = None,
    ) -> None:
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header(
            "Content-Length", str(len(body) if declared_length is None else declared_length)
        )
        for name, value in (headers or {}).items():
            self.send_header(name, value)
        if declared_length is not None:
            self.send_header("Connection", "close")
            self.close_connection = True
        self.end_headers()
        self.wfile.write(body)
        self.wfile.flush()

    def send_json(
        self, status: int, payload: object, *, headers: dict[str, str] | None = None
    ) -> None:
        self.send_bytes(status, json.dumps(payload).encode(), headers=headers)

    def drop_connection(self) -> None:
        """Close the socket without sending any response."""
        self.close_connection = True
        with contextlib.suppress(OSError):
            self.connection.shutdown(socket.SHUT_RDWR)
