"""WSGI middleware in front of moto: injected STS errors, a signing-region check, a call log.

moto accepts a SigV4 signature scoped to any region; real regional STS refuses one
scoped to another region ("Credential should be scoped to a valid region").
``require_signing_region`` makes the peer behave like that endpoint. ``fail_next``
answers the next calls of one action with an STS error document instead of
passing them to moto, the way STS answers when it refuses or is throttling.
"""

from __future__ import annotations

import io
import re
import threading
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qs

__all__ = ["StsCall", "StsFaults"]

StartResponse = Callable[..., Any]
WsgiApp = Callable[[dict[str, Any], StartResponse], Iterable[bytes]]

_SCOPE = re.compile(r"Credential=[^/,\s]+/\d{8}/(?P<region>[^/,\s]+)/")
_ERROR = """<ErrorResponse xmlns="https://sts.amazonaws.com/doc/2011-06-15/">
  <Error><Type>Sender</Type><Code>{code}</Code><Message>{message}</Message></Error>
  <RequestId>00000000-0000-0000-0000-000000000000</RequestId>
</ErrorResponse>
"""
_REASONS = {400: "Bad Request", 403: "Forbidden", 500: "Internal Server Error",
            503: "Service Unavailable"}


@dataclass(frozen=True)
class StsCall:
    """One request that reached the peer: its action, signing region, and what it got."""

    action: str | None
    signing_region: str | None
    injected: str | None = None


@dataclass
class _Fault:
    action: str
    remaining: int
    status: int
    code: str
    message: str


@dataclass
class StsFaults:
    """Wraps moto's WSGI app. Thread-safe: the server answers each request in a thread."""

    app: WsgiApp
    required_region: str | None = None
    calls: list[StsCall] = field(default_factory=list)
    _faults: list[_Fault] = field(default_factory=list)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    @classmethod
    def install(cls, server: Any) -> StsFaults:
        """Put a new instance between a started ``ThreadedMotoServer`` and moto's app."""
        wsgi = server._server  # where ThreadedMotoServer keeps its werkzeug server
        if wsgi is None:
            raise RuntimeError("moto's server has not started")
        faults = cls(wsgi.app)
        wsgi.app = faults
        return faults

    def fail_next(
        self,
        count: int = 1,
        *,
        action: str = "GetCallerIdentity",
        status: int = 403,
        code: str = "AccessDenied",
        message: str = "injected by the test peer",
    ) -> None:
        with self._lock:
            self._faults.append(_Fault(action, count, status, code, message))

    def require_signing_region(self, region: str | None) -> None:
        """Refuse signatures scoped to any other region (None: accept any, as moto does)."""
        self.required_region = region

    def clear(self) -> None:
        with self._lock:
            self._faults.clear()
            self.calls.clear()
        self.required_region = None

    def calls_of(self, action: str) -> list[StsCall]:
        with self._lock:
            return [call for call in self.calls if call.action == action]

    def __call__(self, environ: dict[str, Any], start_response: StartResponse) -> Iterable[bytes]:
        length = int(environ.get("CONTENT_LENGTH") or 0)
        body = environ["wsgi.input"].read(length) if length > 0 else b""
        environ["wsgi.input"] = io.BytesIO(body)
        action = _action(environ, body)
        scope = _SCOPE.search(environ.get("HTTP_AUTHORIZATION", ""))
        region = scope.group("region") if scope else None
        fault = self._take(action)
        if fault is not None:
            self._log(StsCall(action, region, injected=fault.code))
            return _error(start_response, fault.status, fault.code, fault.message)
        required = self.required_region
        if required is not None and scope is not None and region != required:
            self._log(StsCall(action, region, injected="SignatureDoesNotMatch"))
            return _error(
                start_response,
                403,
                "SignatureDoesNotMatch",
                f"Credential should be scoped to a valid region, not '{region}'.",
            )
        self._log(StsCall(action, region))
        return self.app(environ, start_response)

    def _take(self, action: str | None) -> _Fault | None:
        with self._lock:
            for fault in self._faults:
                if fault.action == action:
                    fault.remaining -= 1
                    if fault.remaining <= 0:
                        self._faults.remove(fault)
                    return fault
        return None

    def _log(self, call: StsCall) -> None:
        with self._lock:
            self.calls.append(call)


def _action(environ: dict[str, Any], body: bytes) -> str | None:
    query = parse_qs(environ.get("QUERY_STRING", ""))
    form = parse_qs(body.decode("utf-8", errors="replace"))
    values = form.get("Action") or query.get("Action")
    return values[0] if values else None


def _error(start_response: StartResponse, status: int, code: str, message: str) -> list[bytes]:
    document = _ERROR.format(code=code, message=message).encode()
    start_response(
        f"{status} {_REASONS.get(status, 'Error')}",
        [("Content-Type", "text/xml"), ("Content-Length", str(len(document)))],
    )
    return [document]
