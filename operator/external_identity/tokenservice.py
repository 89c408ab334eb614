"""Client for the token service's external-identity exchange (PROTOCOL.md).

Posts a provider's :class:`~external_identity.proofs.Proof`, parses the
``authentication`` object into an :class:`IssuedToken`, and maps every failure
onto the error tree in :mod:`external_identity.errors`.
"""

from __future__ import annotations

import json
import math
import re
import ssl
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from email.utils import parsedate_to_datetime
from typing import Any, TypeGuard

import httpx

from .errors import (
    ConfigurationError,
    EndpointMismatch,
    InvalidRequest,
    KeyManagementDisabled,
    MalformedResponse,
    NotFound,
    ProofRejected,
    RateLimited,
    RequestRejected,
    SignatureExpired,
    TokenServiceError,
    TTLTooLong,
    Unavailable,
    UntrustedPrincipal,
)
from .proofs import ProofProvider
from .timefmt import rfc3339

__all__ = [
    "CONSOLE_PATH_PREFIX", "DEFAULT_HOST", "DEFAULT_MAX_RESPONSE_BYTES", "DEFAULT_TIMEOUT",
    "IssuedToken", "TokenServiceClient", "TokenServiceEndpoint", "build_http_client",
]

DEFAULT_HOST = "https://console.phase.dev"
CONSOLE_PATH_PREFIX = "/service/public"
DEFAULT_TIMEOUT = 15.0
DEFAULT_MAX_RESPONSE_BYTES = 64 * 1024
MAX_RETRY_AFTER = 3600.0
#: A granted TTL above this (ten years) is nonsense, not a token to schedule around.
MAX_TTL = 10 * 365 * 24 * 3600
_DELAY_SECONDS = re.compile(r"\d{1,10}(?:\.\d{1,6})?")

Clock = Callable[[], datetime]


def utcnow() -> datetime:
    return datetime.now(UTC)


@dataclass(frozen=True)
class TokenServiceEndpoint:
    """Where the token service lives.

    ``host`` is the console URL (``https://console.phase.dev``) with the default
    ``/service/public`` prefix, or the API host (``https://api.phase.dev``) with
    ``path_prefix=""``. A host that already ends in the prefix is accepted as is.
    """

    host: str = DEFAULT_HOST
    path_prefix: str = CONSOLE_PATH_PREFIX

    def url_for(self, proof_path: str) -> str:
        base = self.host.rstrip("/")
        prefix = "/" + self.path_prefix.strip("/") if self.path_prefix.strip("/") else ""
        if prefix and base.endswith(prefix):
            prefix = ""
        return f"{base}{prefix}/identities/external/v1/{proof_path.lstrip('/')}"


@dataclass(frozen=True)
class IssuedToken:
    """A token the service issued, with the times the client measured."""

    token: str = field(repr=False)
    bearer_token: str = field(repr=False)
    token_type: str
    ttl: int
    max_ttl: int | None
    issued_at: datetime
    host: str
    #: The cloud principal our proof named, when the provider knows it.
    principal: str | None = None

    @property
    def expires_at(self) -> datetime:
        return self.issued_at + timedelta(seconds=self.ttl)

    def metadata(self) -> dict[str, Any]:
        """Everything but the secret values; safe to log or put in status."""
        return {
            "tokenType": self.token_type,
            "ttl": self.ttl,
            "maxTTL": self.max_ttl,
            "issuedAt": rfc3339(self.issued_at),
            "expiresAt": rfc3339(self.expires_at),
            "host": self.host,
            "principal": self.principal,
        }


def build_http_client(
    *,
    ca_bundle: str | None = None,
    ca_bundle_pem: str | None = None,
    timeout: float = DEFAULT_TIMEOUT,
) -> httpx.AsyncClient:
    """An HTTP client for the token service.

    ``ca_bundle`` (a PEM file path) or ``ca_bundle_pem`` (PEM text) adds a
    private CA to the system's trusted roots.
    """
    verify: ssl.SSLContext | bool = True
    if ca_bundle or ca_bundle_pem:
        context = ssl.create_default_context()
        try:
            context.load_verify_locations(cafile=ca_bundle, cadata=ca_bundle_pem)
        except (OSError, ssl.SSLError) as error:
            raise ConfigurationError(f"CA bundle is not usable PEM: {error}") from None
        verify = context
    return httpx.AsyncClient(
        verify=verify,
        timeout=httpx.Timeout(timeout),
        follow_redirects=False,
        headers={"User-Agent": "external-identity-operator"},
    )


class TokenServiceClient:
    """Exchanges provider proofs for service tokens. One per token-service host."""

    def __init__(
        self,
        endpoint: TokenServiceEndpoint,
        *,
        http: httpx.AsyncClient,
        max_response_bytes: int = DEFAULT_MAX_RESPONSE_BYTES,
        clock: Clock = utcnow,
    ) -> None:
        self.endpoint = endpoint
        self._http = http
        self._max_response_bytes = max_response_bytes
        self._clock = clock

    async def exchange(
        self,
        provider: ProofProvider,
        *,
        service_account_id: str,
        ttl: int | None = None,
    ) -> IssuedToken:
        """Sign a fresh proof, post it, and return the issued token.

        Every :class:`TokenServiceError` raised carries the proof's ``principal``.
        """
        proof = await provider.proof()
        body: dict[str, Any] = {
            "account": {"type": "service", "id": service_account_id},
            **proof.payload,
        }
        if ttl is not None:
            body["tokenRequest"] = {"ttl": ttl}
        url = self.endpoint.url_for(proof.path)
        issued_at = self._clock()
        try:
            status, headers, raw = await self._post(url, body)
            if status != 200:
                raise _classify(status, headers, raw, now=self._clock())
            return _parse_authentication(
                raw, issued_at=issued_at, host=self.endpoint.host, principal=proof.principal
            )
        except TokenServiceError as error:
            error.principal = proof.principal
            raise

    async def _post(self, url: str, body: dict[str, Any]) -> tuple[int, httpx.Headers, bytes]:
        try:
            async with self._http.stream("POST", url, json=body) as response:
                raw = await self._read_bounded(response)
                return response.status_code, response.headers, raw
        except httpx.TimeoutException as error:
            raise Unavailable(f"no answer from {url} in time ({type(error).__name__})") from None
        except httpx.ConnectError as error:
            raise Unavailable(f"cannot connect to {url}: {error}") from None
        except (httpx.RemoteProtocolError, httpx.ReadError) as error:
            raise Unavailable(f"connection to {url} broke mid-response: {error}") from None
        except httpx.TransportError as error:
            raise Unavailable(f"request to {url} failed: {type(error).__name__}: {error}") from None

    async def _read_bounded(self, response: httpx.Response) -> bytes:
        chunks: list[bytes] = []
        room = self._max_response_bytes
        async for chunk in response.aiter_bytes():
            if len(chunk) > room:
                if response.status_code != 200:
                    chunks.append(chunk[:room])  # an error page: its start is enough
                    break
                raise MalformedResponse(
                    f"response larger than {self._max_response_bytes} bytes; refused to read it",
                    status=response.status_code,
                )
            chunks.append(chunk)
            room -= len(chunk)
        return b"".join(chunks)


_NOT_JSON = object()


def _json(raw: bytes) -> Any:
    """The parsed body, or ``_NOT_JSON`` (hostile nesting included)."""
    try:
        return json.loads(raw)
    except (ValueError, UnicodeDecodeError, RecursionError):
        return _NOT_JSON


def _field(document: Any, key: str) -> str | None:
    value = document.get(key) if isinstance(document, dict) else None
    return value if isinstance(value, str) and value else None


def _server_message(document: Any, raw: bytes) -> str:
    """The ``error`` field if the body is the documented JSON, else a text snippet."""
    for key in ("error", "detail", "message"):
        if (value := _field(document, key)) is not None:
            return value
    return raw.decode("utf-8", errors="replace").strip() or "(empty response body)"


def _retry_after(headers: httpx.Headers, *, now: datetime) -> float | None:
    """``Retry-After`` as seconds from ``now`` (delay-seconds or an HTTP date), capped."""
    value = headers.get("Retry-After", "").strip()
    if _DELAY_SECONDS.fullmatch(value):
        seconds = float(value)
    else:
        try:
            when = parsedate_to_datetime(value)
        except (TypeError, ValueError, IndexError):
            return None
        seconds = (when.replace(tzinfo=when.tzinfo or UTC) - now).total_seconds()
    return min(max(seconds, 0.0), MAX_RETRY_AFTER) if math.isfinite(seconds) else None


#: Refusals by status and the phrases the server's message contains; first match wins.
_REFUSALS: tuple[tuple[int, tuple[str, ...], type[RequestRejected]], ...] = (
    (400, ("ttl", "exceed"), TTLTooLong),
    (400, ("ttl", "maximum"), TTLTooLong),
    (400, (), InvalidRequest),
    (401, ("signature expired",), SignatureExpired),
    (401, (), ProofRejected),
    (403, ("key management",), KeyManagementDisabled),
    (403, (), UntrustedPrincipal),
    (404, (), NotFound),
)


def _classify(
    status: int, headers: httpx.Headers, raw: bytes, *, now: datetime
) -> TokenServiceError:
    document = _json(raw)
    message = _server_message(document, raw)
    lowered = message.lower()
    if status == 429:
        return RateLimited(message, retry_after=_retry_after(headers, now=now))
    if status >= 500:
        return Unavailable(message, status=status, retry_after=_retry_after(headers, now=now))
    if status == 400 and "sts endpoint mismatch" in lowered:
        expected = _field(document, "expectedEndpoint")
        return EndpointMismatch(message, status=status, expected_endpoint=expected)
    for code, phrases, kind in _REFUSALS:
        if code == status and all(phrase in lowered for phrase in phrases):
            return kind(message, status=status)
    if 400 <= status < 500:
        return RequestRejected(message, status=status)
    return MalformedResponse(f"unexpected status {status}: {message}", status=status)


def _one_line(value: Any) -> TypeGuard[str]:
    """A non-empty string without control characters or surrounding space."""
    return isinstance(value, str) and value.isprintable() and value == value.strip() != ""


def _malformed(problem: str) -> MalformedResponse:
    return MalformedResponse(problem, status=200)


def _parse_authentication(
    raw: bytes, *, issued_at: datetime, host: str, principal: str | None
) -> IssuedToken:
    document = _json(raw)
    if document is _NOT_JSON:
        raise _malformed(f"response is not JSON ({len(raw)} bytes)")
    auth = document.get("authentication") if isinstance(document, dict) else None
    if not isinstance(auth, dict):
        raise _malformed("response has no 'authentication' object")
    token, bearer, ttl, max_ttl = (auth.get(k) for k in ("token", "bearerToken", "TTL", "maxTTL"))
    if not _one_line(token):
        raise _malformed("'authentication.token' is missing, empty or not one printable line")
    if not _one_line(bearer):
        raise _malformed("'authentication.bearerToken' is missing, empty or not one printable line")
    if isinstance(ttl, bool) or not isinstance(ttl, int) or ttl <= 0:
        raise _malformed("'authentication.TTL' is not a positive integer")
    if ttl > MAX_TTL:
        raise _malformed(f"'authentication.TTL' of {ttl}s is over ten years")
    if max_ttl is not None and (isinstance(max_ttl, bool) or not isinstance(max_ttl, int)):
        raise _malformed("'authentication.maxTTL' is not an integer")
    token_type = auth.get("tokenType")
    return IssuedToken(
        token=token,
        bearer_token=bearer,
        token_type=token_type if _one_line(token_type) else "ServiceAccount",
        ttl=ttl,
        max_ttl=max_ttl,
        issued_at=issued_at,
        host=host,
        principal=principal,
    )
