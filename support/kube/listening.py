"""The emulator's listening port, taken away and given back: an API server outage.

:class:`Listener` works on the aiohttp test server inside ``kmock.Server``, on the server's
own event loop. :meth:`Listener.drop` closes the listening socket (new connections are
refused) and aborts every open connection (in-flight requests and watch streams break, as
when the process dies); :meth:`Listener.restore` listens again on the same host and port.
Nothing else is touched: the emulator, its store, its history of resourceVersions and its
request log carry on, so clients that reconnect find everything where it was.
"""

from __future__ import annotations

import asyncio
import socket

import aiohttp.test_utils
import aiohttp.web

__all__ = ["Listener"]

#: How long a dropped connection may take to be forgotten by aiohttp after its abort.
_SETTLE_TIMEOUT = 10.0
_POLL = 0.01


class Listener:
    """Closes and reopens one aiohttp test server's listening socket (call on its loop)."""

    def __init__(self, server: aiohttp.test_utils.BaseTestServer) -> None:
        assert server.runner is not None and server.port is not None
        self._runner: aiohttp.web.BaseRunner = server.runner
        self.host: str = server.host
        self.port: int = server.port

    @property
    def listening(self) -> bool:
        return bool(self._runner.sites)

    async def drop(self) -> None:
        """Refuse new connections and break the open ones; return once none is left."""
        for site in list(self._runner.sites):
            await site.stop()
        web_server = self._runner.server
        assert web_server is not None
        deadline = asyncio.get_running_loop().time() + _SETTLE_TIMEOUT
        # At least one pass after a pause: a connection accepted just before the socket closed
        # registers itself a few loop iterations later, and must be broken too.
        while True:
            for handler in web_server.connections:
                if handler.transport is not None:
                    handler.transport.abort()  # closed at once, unflushed, as by a dying process
            await asyncio.sleep(_POLL)
            if not web_server.connections:
                return
            if asyncio.get_running_loop().time() > deadline:
                raise RuntimeError(f"{len(web_server.connections)} connections did not close")

    async def restore(self) -> None:
        """Listen on the same host and port again; return once connections are accepted.

        Waits while something else holds the port (bound during the outage); bound the wait
        with ``asyncio.timeout``.
        """
        if self.listening:
            return
        # Nothing signals when another socket lets go of a port: poll.
        while (sock := _bound(self.host, self.port)) is None:  # noqa: ASYNC110
            await asyncio.sleep(_POLL)
        await aiohttp.web.SockSite(self._runner, sock=sock).start()


def _bound(host: str, port: int) -> socket.socket | None:
    sock = socket.socket(socket.AF_INET6 if ":" in host else socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind((host, port))
    except OSError:
        sock.close()
        return None
    return sock
