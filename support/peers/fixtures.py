"""Pytest fixtures for the three peers. Load with ``pytest_plugins = ["support.peers.fixtures"]``.

Servers start once per session; the function-scoped fixtures reset their
configuration and records around every test.

=====================  =========  ==================================================
fixture                scope      yields
=====================  =========  ==================================================
sts_peer               session    StsPeer (moto, SigV4 enforced)
entra_peer             function   EntraPeer (reset; federated token files in tmp_path)
phase_server           function   PhaseServer (reset; JWKS fetched from entra_peer)
aws_env                function   dict of AWS_* vars, also set in os.environ; clears the
                                  STS peer's injected faults before and after
entra_env              function   dict of AZURE_* / CA vars, also set in os.environ;
                                  aiohttp's default SSL context trusts the peer CA
aiohttp_trusts_entra   session    None: adds the peer CA to aiohttp's default context
loopback_only          function   None: DNS and connect() refuse non-loopback hosts
=====================  =========  ==================================================
"""

from __future__ import annotations

import ipaddress
import socket
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import trustme

from support.operator import AMBIENT_AWS_ENV

from .entra_peer import EntraPeer
from .phase_server import PhaseServer
from .sts_peer import StsPeer

__all__ = [
    "aiohttp_trusts_entra",
    "aws_env",
    "entra_env",
    "entra_peer",
    "entra_peer_session",
    "loopback_only",
    "phase_server",
    "phase_server_session",
    "sts_peer",
]

_CLEARED_AWS = AMBIENT_AWS_ENV
_CLEARED_AZURE = (
    "AZURE_CLIENT_SECRET",
    "AZURE_CLIENT_CERTIFICATE_PATH",
    "AZURE_FEDERATED_TOKEN_FILE",
    "AZURE_USERNAME",
    "IDENTITY_ENDPOINT",
    "MSI_ENDPOINT",
)


@pytest.fixture(scope="session")
def sts_peer() -> Iterator[StsPeer]:
    peer = StsPeer()
    peer.start()
    yield peer
    peer.stop()


@pytest.fixture(scope="session")
def entra_peer_session(tmp_path_factory: pytest.TempPathFactory) -> Iterator[EntraPeer]:
    peer = EntraPeer(ca=trustme.CA(), workdir=tmp_path_factory.mktemp("entra-peer"))
    peer.start()
    yield peer
    peer.stop()


@pytest.fixture
def entra_peer(entra_peer_session: EntraPeer, tmp_path: Path) -> Iterator[EntraPeer]:
    entra_peer_session.reset(token_dir=tmp_path)
    yield entra_peer_session
    entra_peer_session.reset()


@pytest.fixture(scope="session")
def phase_server_session(entra_peer_session: EntraPeer) -> Iterator[PhaseServer]:
    server = PhaseServer(
        login_base_url=entra_peer_session.authority_host,
        ca_bundle=str(entra_peer_session.ca_bundle_path),
    )
    server.start()
    yield server
    server.stop()


@pytest.fixture
def phase_server(phase_server_session: PhaseServer) -> Iterator[PhaseServer]:
    phase_server_session.reset()
    yield phase_server_session
    phase_server_session.reset()


@pytest.fixture(scope="session")
def aiohttp_trusts_entra(entra_peer_session: EntraPeer) -> None:
    """aiohttp builds its default verified SSL context once, at import time, so
    SSL_CERT_FILE set later is ignored by azure-identity's async credentials.
    Adding the throwaway CA to that context is the only env-free way in."""
    import aiohttp.connector

    context = aiohttp.connector._SSL_CONTEXT_VERIFIED
    if context is not None:
        entra_peer_session.trust_ca(context)


@pytest.fixture
def aws_env(sts_peer: StsPeer, monkeypatch: pytest.MonkeyPatch) -> Iterator[dict[str, str]]:
    for name in _CLEARED_AWS:
        monkeypatch.delenv(name, raising=False)
    env = sts_peer.env()
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    sts_peer.faults.clear()
    yield env
    sts_peer.faults.clear()


@pytest.fixture
def entra_env(
    entra_peer: EntraPeer, aiohttp_trusts_entra: None, monkeypatch: pytest.MonkeyPatch
) -> dict[str, str]:
    for name in _CLEARED_AZURE:
        monkeypatch.delenv(name, raising=False)
    env = entra_peer.env()
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    return env


def _is_loopback(host: Any) -> bool:
    if host is None:
        return True
    name = host.decode() if isinstance(host, bytes) else str(host)
    if name == "localhost":
        return True
    try:
        return ipaddress.ip_address(name.split("%", 1)[0]).is_loopback
    except ValueError:
        return False


@pytest.fixture
def loopback_only(monkeypatch: pytest.MonkeyPatch) -> None:
    """Fail fast on any attempt to resolve or connect beyond 127.0.0.1 / ::1.

    A safety net for the rule that tests never reach AWS, Microsoft or the
    instance metadata service (169.254.169.254)."""
    real_getaddrinfo = socket.getaddrinfo
    real_connect = socket.socket.connect
    real_connect_ex = socket.socket.connect_ex

    def getaddrinfo(host: Any, *args: Any, **kwargs: Any) -> Any:
        if not _is_loopback(host):
            raise socket.gaierror(socket.EAI_NONAME, f"loopback_only: refused to resolve {host}")
        return real_getaddrinfo(host, *args, **kwargs)

    def allowed(address: Any) -> bool:
        return not isinstance(address, tuple) or _is_loopback(address[0])

    def connect(self: socket.socket, address: Any) -> None:
        if not allowed(address):
            raise ConnectionRefusedError(f"loopback_only: refused to connect to {address}")
        real_connect(self, address)

    def connect_ex(self: socket.socket, address: Any) -> int:
        if not allowed(address):
            raise ConnectionRefusedError(f"loopback_only: refused to connect to {address}")
        return real_connect_ex(self, address)

    monkeypatch.setattr(socket, "getaddrinfo", getaddrinfo)
    monkeypatch.setattr(socket.socket, "connect", connect)
    monkeypatch.setattr(socket.socket, "connect_ex", connect_ex)
