"""The Phase-protocol peer: a real HTTP server enforcing every rule in PROTOCOL.md.

Serves both path forms for both providers::

    POST /service/public/identities/external/v1/aws/iam/auth/     (console host)
    POST /identities/external/v1/aws/iam/auth/                    (API host)
    POST /service/public/identities/external/v1/azure/entra/auth/
    POST /identities/external/v1/azure/entra/auth/

and, for tests that use the token afterwards, ``GET /v1/secrets/`` (and
``/service/public/v1/secrets/``), which answers 200 ``[]`` to
``Authorization: Bearer ServiceAccount <token>`` while that token is valid, and
``POST /e2e/verify`` with ``{"token": "pss_service:v2:…"}``, which answers 200
``{"valid": bool, "expiresAt": <unix seconds> | null}`` (valid: issued by this
peer and not expired) for checks from outside the process (the kind e2e suite).

Tests configure accounts and identities on ``server.config``, inject faults
with ``rate_limit`` / ``fail`` / ``hang`` / ``respond_raw`` / ``truncate`` /
``disconnect``, and read ``server.records`` (requests answered, with when each arrived; tokens
issued; the most exchange requests in flight at once). A client that gives up on a hanging
request is recorded with status 499 at the moment it closed the connection (plain HTTP only).
With ``ssl_context`` the peer serves HTTPS (a test's throwaway CA).
"""

from __future__ import annotations

import json
import secrets
import select
import socket
import ssl
import threading
import time
from collections.abc import Callable
from typing import Any, Literal

from ._http import JsonHandler, LoopbackServer
from .phase_aws import authenticate_aws
from .phase_azure import authenticate_azure
from .phase_model import (
    AwsIamIdentity,
    AzureEntraIdentity,
    Fault,
    IssuedToken,
    PhaseConfig,
    Provider,
    Records,
    RequestRecord,
    ServiceAccount,
)
from .phase_rules import Grant, Reject

__all__ = ["API_PATHS", "CLIENT_CLOSED", "CONSOLE_PATHS", "VERIFY_PATH", "PhaseServer"]

CONSOLE_PATHS: dict[Provider, str] = {
    "aws-iam": "/service/public/identities/external/v1/aws/iam/auth/",
    "azure": "/service/public/identities/external/v1/azure/entra/auth/",
}
API_PATHS: dict[Provider, str] = {
    "aws-iam": "/identities/external/v1/aws/iam/auth/",
    "azure": "/identities/external/v1/azure/entra/auth/",
}
_AUTH_ROUTES: dict[str, Provider] = {
    **{path: provider for provider, path in CONSOLE_PATHS.items()},
    **{path: provider for provider, path in API_PATHS.items()},
}
_SECRETS_ROUTES = frozenset({"/v1/secrets/", "/service/public/v1/secrets/"})
#: Not part of Phase's API: lets a process outside this one ask about a token.
VERIFY_PATH = "/e2e/verify"
_UNAVAILABLE = b"<html><head><title>503 Service Temporarily Unavailable</title></head></html>"
_SERVER_ERROR = b"<h1>Server Error (500)</h1>"
#: nginx's status for "the client closed the connection before the answer".
CLIENT_CLOSED = 499


class PhaseServer:
    """The running peer. ``base_url`` is the host; pick the path form per test.

    It listens on a free loopback port unless ``host``/``port`` say otherwise (the
    standalone peers, ``support.peers.serve``), over HTTPS with ``ssl_context``.
    """

    def __init__(
        self,
        *,
        login_base_url: str = "https://login.microsoftonline.com",
        ca_bundle: str | None = None,
        host: str = "127.0.0.1",
        port: int = 0,
        ssl_context: ssl.SSLContext | None = None,
    ) -> None:
        self._login_base_url = login_base_url
        self._ca_bundle = ca_bundle
        self._lock = threading.Lock()
        self._release = threading.Event()
        #: Set when a request starts to stall (:meth:`hang`): an exchange is in flight.
        self.hanging = threading.Event()
        #: Counts resets: a request still hanging from before one is dropped, not recorded.
        self.epoch = 0
        self.records = Records()
        self.config = PhaseConfig()
        self.reset()
        self._server = LoopbackServer(
            _PhaseHandler, owner=self, host=host, port=port, ssl_context=ssl_context
        )

    # -- lifecycle -------------------------------------------------------

    def start(self) -> None:
        self._server.start()

    def stop(self) -> None:
        self._release.set()
        self._server.stop()

    def reset(self) -> None:
        """Empty configuration and records; wakes any request still hanging."""
        with self._lock:
            self._release.set()
            self._release = threading.Event()
            self.hanging.clear()
            self.epoch += 1
            self.config = PhaseConfig(
                login_base_url=self._login_base_url, ca_bundle=self._ca_bundle
            )
            self.records.clear()

    @property
    def base_url(self) -> str:
        return self._server.base_url

    def url(self, provider: Provider, *, form: Literal["console", "api"] = "console") -> str:
        paths = CONSOLE_PATHS if form == "console" else API_PATHS
        return self.base_url + paths[provider]

    # -- configuration helpers ------------------------------------------------

    def add_service_account(
        self, *, key_management: bool = True, account_id: str | None = None
    ) -> ServiceAccount:
        account = ServiceAccount(key_management=key_management)
        if account_id is not None:
            account.id = account_id
        self.config.service_accounts[account.id] = account
        return account

    def add_aws_identity(
        self,
        account: ServiceAccount,
        *,
        sts_endpoint: str,
        trusted_principals: list[str],
        **settings: Any,
    ) -> AwsIamIdentity:
        identity = AwsIamIdentity(
            sts_endpoint=sts_endpoint, trusted_principals=trusted_principals, **settings
        )
        account.identities.append(identity)
        return identity

    def add_azure_identity(
        self,
        account: ServiceAccount,
        *,
        tenant_id: str,
        allowed_service_principals: list[str],
        **settings: Any,
    ) -> AzureEntraIdentity:
        identity = AzureEntraIdentity(
            tenant_id=tenant_id, allowed_service_principals=allowed_service_principals, **settings
        )
        account.identities.append(identity)
        return identity

    # -- faults (each applies to the next ``count`` auth requests) -------------

    def rate_limit(
        self, count: int = 1, *, retry_after: int = 30, provider: Provider | None = None
    ) -> None:
        """429 as Django REST framework's throttle sends it (``detail``, Retry-After)."""
        body = {"detail": f"Request was throttled. Expected available in {retry_after} seconds."}
        self._add_fault(
            Fault(
                "rate-limit",
                count,
                status=429,
                body=json.dumps(body).encode(),
                headers={"Retry-After": str(retry_after)},
                provider=provider,
            )
        )

    def fail(
        self,
        count: int = 1,
        *,
        status: int = 500,
        body: bytes | dict[str, Any] | None = None,
        content_type: str | None = None,
        headers: dict[str, str] | None = None,
        provider: Provider | None = None,
    ) -> None:
        """Answer ``status`` (with extra ``headers``, e.g. Retry-After on a 503); the
        default body is Django's HTML error page."""
        if isinstance(body, dict):
            raw, kind = json.dumps(body).encode(), "application/json"
        else:
            raw, kind = (_SERVER_ERROR if body is None else body), "text/html"
        self._add_fault(
            Fault(
                "status",
                count,
                status=status,
                body=raw,
                content_type=content_type or kind,
                headers=dict(headers or {}),
                provider=provider,
            )
        )

    def hang(self, count: int = 1, *, seconds: float, provider: Provider | None = None) -> None:
        """Stall ``seconds`` before answering normally (release/reset/stop cut it short);
        :attr:`hanging` is set once a request stalls."""
        self._add_fault(Fault("hang", count, delay=seconds, provider=provider))

    def release(self) -> None:
        """Let every stalled request go on now."""
        with self._lock:
            self._release.set()
            self._release = threading.Event()

    def respond_raw(
        self,
        count: int = 1,
        *,
        body: bytes,
        status: int = 200,
        content_type: str = "application/json",
        provider: Provider | None = None,
    ) -> None:
        """Send these exact bytes (non-JSON, wrong shape, huge…)."""
        self._add_fault(
            Fault(
                "raw", count, status=status, body=body, content_type=content_type, provider=provider
            )
        )

    def truncate(
        self,
        count: int = 1,
        *,
        body: bytes = b'{"authentication": {"tokenType": "Serv',
        provider: Provider | None = None,
    ) -> None:
        """Declare more bytes than are sent, then close the connection."""
        self._add_fault(Fault("truncate", count, status=200, body=body, provider=provider))

    def disconnect(self, count: int = 1, *, provider: Provider | None = None) -> None:
        """Close the connection without any response."""
        self._add_fault(Fault("disconnect", count, provider=provider))

    def _add_fault(self, fault: Fault) -> None:
        with self._lock:
            self.config.faults.append(fault)

    def take_fault(self, provider: Provider) -> Fault | None:
        with self._lock:
            for fault in self.config.faults:
                if fault.remaining > 0 and fault.provider in (None, provider):
                    fault.remaining -= 1
                    if fault.remaining == 0:
                        self.config.faults.remove(fault)
                    return fault
        return None

    def hold(self, seconds: float, *, gone: Callable[[], bool]) -> bool:
        """Stall up to ``seconds`` (reset/stop cut it short); True if ``gone()`` said the
        client left first."""
        release = self._release
        deadline = time.monotonic() + seconds
        while (left := deadline - time.monotonic()) > 0:
            if release.wait(min(left, 0.02)):
                return False
            if gone():
                return True
        return False

    # -- issuing -------------------------------------------------------------

    def authenticate(self, provider: Provider, raw: bytes) -> Grant:
        config = self.config
        return (
            authenticate_aws(raw, config)
            if provider == "aws-iam"
            else authenticate_azure(raw, config)
        )

    def issue(self, grant: Grant, provider: Provider) -> IssuedToken:
        token_value = secrets.token_hex(32)
        pubkey, share, wrap_key = (secrets.token_hex(32) for _ in range(3))
        issued_at = self.config.now()
        token = IssuedToken(
            token=f"pss_service:v2:{token_value}:{pubkey}:{share}:{wrap_key}",
            bearer_token=f"ServiceAccount {token_value}",
            token_value=token_value,
            provider=provider,
            principal=grant.principal,
            service_account_id=grant.account.id,
            token_name=grant.identity.token_name,
            ttl=grant.ttl,
            max_ttl=grant.identity.max_ttl,
            issued_at=issued_at,
            expires_at=issued_at + grant.ttl,
        )
        self.records.add_token(token)
        return token

    def verify(self, token: str) -> tuple[bool, float | None]:
        """Whether this peer issued exactly ``token`` and it is valid now; its expiry."""
        issued = next((t for t in self.records.tokens if t.token == token), None)
        if issued is None:
            return False, None
        return issued.valid_at(self.config.now()), issued.expires_at


class _PhaseHandler(JsonHandler):
    owner: PhaseServer
    _arrived_at: float | None = None

    def do_GET(self) -> None:
        self._dispatch()

    def do_POST(self) -> None:
        self._dispatch()

    def do_PUT(self) -> None:
        self._dispatch()

    def _dispatch(self) -> None:
        self._arrived_at = self.owner.config.now()
        raw = self.read_body()
        path = self.path.split("?", 1)[0]
        if path in _SECRETS_ROUTES and self.command == "GET":
            self._secrets(path)
            return
        if path == VERIFY_PATH and self.command == "POST":
            self._verify(raw)
            return
        provider = _AUTH_ROUTES.get(path)
        if provider is None:
            self._record(path, None, 404, raw, error="no such path")
            self.send_bytes(404, b"<h1>Not Found</h1>", content_type="text/html")
            return
        if self.command != "POST":
            message = f'Method "{self.command}" not allowed.'
            self._record(path, provider, 405, raw, error=message)
            self.send_json(405, {"detail": message})
            return
        self.owner.records.entered()
        try:
            self._authenticate(path, provider, raw)
        finally:
            self.owner.records.left()

    def _authenticate(self, path: str, provider: Provider, raw: bytes) -> None:
        fault = self.owner.take_fault(provider)
        if fault is not None and fault.kind == "hang":
            epoch = self.owner.epoch
            self.owner.hanging.set()
            if self.owner.hold(fault.delay, gone=self._client_gone):
                self._record(path, provider, CLIENT_CLOSED, raw, error="client closed the "
                             "connection", fault=fault)
                self.close_connection = True
                return
            if self.owner.epoch != epoch:  # reset: the test that hung it is over; no record
                self.send_bytes(503, _UNAVAILABLE, content_type="text/html")
                return
        elif fault is not None:
            self._record(path, provider, fault.status, raw, fault=fault)
            self._apply(fault)
            return
        if self.owner.config.unavailable:
            self._record(path, provider, 503, raw, error="unavailable")
            self.send_bytes(503, _UNAVAILABLE, content_type="text/html")
            return
        self._exchange(path, provider, raw, fault)

    def _exchange(self, path: str, provider: Provider, raw: bytes, fault: Fault | None) -> None:
        try:
            grant = self.owner.authenticate(provider, raw)
        except Reject as reject:
            self._record(
                path,
                provider,
                reject.status,
                raw,
                error=reject.message,
                reason=reject.reason,
                fault=fault,
            )
            self.send_json(reject.status, reject.body())
            return
        token = self.owner.issue(grant, provider)
        self._record(path, provider, 200, raw, reason=grant.principal, fault=fault)
        self.send_json(
            200,
            {
                "authentication": {
                    "tokenType": "ServiceAccount",
                    "token": token.token,
                    "bearerToken": token.bearer_token,
                    "TTL": token.ttl,
                    "maxTTL": token.max_ttl,
                }
            },
        )

    def _client_gone(self) -> bool:
        """Whether the client closed its end (it sends nothing else while it waits)."""
        connection = self.connection
        if isinstance(connection, ssl.SSLSocket):
            return False  # no peeking under TLS: a hang there runs its full length
        readable, _, _ = select.select([connection], [], [], 0)
        if not readable:
            return False
        try:
            return connection.recv(1, socket.MSG_PEEK) == b""
        except OSError:
            return True

    def _apply(self, fault: Fault) -> None:
        if fault.kind == "disconnect":
            self.drop_connection()
        elif fault.kind == "truncate":
            self.send_bytes(fault.status, fault.body, declared_length=len(fault.body) + 64)
            self.drop_connection()
        else:
            self.send_bytes(
                fault.status, fault.body, content_type=fault.content_type, headers=fault.headers
            )

    def _secrets(self, path: str) -> None:
        header = self.headers.get("Authorization", "")
        token = self.owner.records.find_token(header) if header.startswith("Bearer ") else None
        now = self.owner.config.now()
        if token is None or not token.valid_at(now):
            self._record(path, "secrets", 403, b"", error="invalid or expired token")
            self.send_json(403, {"error": "Invalid or expired token"})
            return
        self._record(path, "secrets", 200, b"", reason=token.principal)
        self.send_json(200, [])

    def _verify(self, raw: bytes) -> None:
        """Not recorded: it is the test harness asking, not a client of the protocol."""
        try:
            token = json.loads(raw)["token"]
        except (ValueError, TypeError, KeyError) as error:
            self.send_json(400, {"error": f'expected {{"token": "..."}}: {error!r}'})
            return
        if not isinstance(token, str):
            self.send_json(400, {"error": "token is not a string"})
            return
        valid, expires_at = self.owner.verify(token)
        expires = None if expires_at is None else int(expires_at)
        self.send_json(200, {"valid": valid, "expiresAt": expires})

    def _record(
        self,
        path: str,
        provider: Provider | None,
        status: int,
        raw: bytes,
        *,
        error: str | None = None,
        reason: str | None = None,
        fault: Fault | None = None,
    ) -> None:
        try:
            payload: Any = json.loads(raw) if raw else None
        except ValueError:
            payload = raw
        self.owner.records.add_request(
            RequestRecord(
                path=path,
                method=self.command,
                provider=provider,
                status=status,
                received_at=self.owner.config.now(),
                error=error,
                reason=reason,
                fault=fault.kind if fault is not None else None,
                payload=payload,
                headers=dict(self.headers.items()),
                arrived_at=self._arrived_at,
            )
        )
