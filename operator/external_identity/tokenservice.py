"""Client for the token service's external-identity exchange (PROTOCOL.md).

Posts a provider's :class:`~external_identity.proofs.Proof`, parses the
``authentication`` object into an :class:`IssuedToken`, and maps every failure
onto the error tree in :mod:`external_identity.errors`.
"""

from __future__ import annotations

import json
import math
import ssl
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from email.utils import parsedate_to_datetime
from typing import Any

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
    "CONSOLE_PATH_PREFIX",
    "DEFAULT_HOST",
    "DEFAULT_MAX_RESPONSE_BYTES",
    "DEFAULT_TIMEOUT",
    "IssuedToken",
    "TokenServiceClient",
    "TokenServiceEndpoint",
    "build_http_client",
]

DEFAULT_HOST = "https://console.phase.dev"
CONSOLE_PATH_PREFIX = "/service/public"
DEFAULT_TIMEOUT = 15.0
DEFAULT_MAX_RESPONSE_BYTES = 64 * 1024
MAX_RETRY_AFTER = 3600.0

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
        """Sign a fresh proof, post it, and return the issued token."""
        proof = await provider.proof()
        body: dict[str, Any] = {
            "account": {"type": "service", "id": service_account_id},
            **proof.payload,
        }
        if ttl is not None:
            body["tokenRequest"] = {"ttl": ttl}
        url = self.endpoint.url_for(proof.path)
        issued_at = self._clock()
        status, headers, raw = await self._post(url, body)
        if status != 200:
            raise _classify(status, headers, raw)
        return _parse_authentication(
            raw, issued_at=issued_at, host=self.endpoint.host, principal=proof.principal
        )

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
        size = 0
        async for chunk in response.aiter_bytes():
            size += len(chunk)
            if size > self._max_response_bytes:
                raise MalformedResponse(
                    f"response larger than {self._max_response_bytes} bytes; refused to read it",
                    status=response.status_code,
                )
            chunks.append(chunk)
        return b"".join(chunks)


def _server_message(raw: bytes) -> str:
    """The ``error`` field if the body is the documented JSON, else a text snippet."""
    try:
        document = json.loads(raw)
    except (ValueError, UnicodeDecodeError):
        document = None
    if isinstance(document, dict):
        for key in ("error", "detail", "message"):
            value = document.get(key)
            if isinstance(value, str) and value:
                return value
    text = raw.decode("utf-8", errors="replace").strip()
    return text or "(empty response body)"


def _retry_after(headers: httpx.Headers, clock: Clock = utcnow) -> float | None:
    value = headers.get("Retry-After")
    if not value:
        return None
    try:
        seconds = float(value)
    except ValueError:
        try:
            seconds = (parsedate_to_datetime(value) - clock()).total_seconds()
        except (TypeError, ValueError):
            return None
    if not math.isfinite(seconds):
        return None
    return min(max(seconds, 0.0), MAX_RETRY_AFTER)


def _classify(status: int, headers: httpx.Headers, raw: bytes) -> TokenServiceError:
    message = _server_message(raw)
    lowered = message.lower()
    if status == 429:
        return RateLimited(message, retry_after=_retry_after(headers))
    if status >= 500:
        return Unavailable(message, status=status)
    if status == 400:
        if "sts endpoint mismatch" in lowered:
            return EndpointMismatch(message, status=status)
        if "ttl" in lowered and ("exceed" in lowered or "maximum" in lowered):
            return TTLTooLong(message, status=status)
        return InvalidRequest(message, status=status)
    if status == 401:
        if "signature expired" in lowered:
            return SignatureExpired(message, status=status)
        return ProofRejected(message, status=status)
    if status == 403:
        if "key management" in lowered:
            return KeyManagementDisabled(message, status=status)
        return UntrustedPrincipal(message, status=status)
    if status == 404:
        return NotFound(message, status=status)
    if 400 <= status < 500:
        return RequestRejected(message, status=status)
    return MalformedResponse(f"unexpected status {status}: {message}", status=status)


def _parse_authentication(
    raw: bytes, *, issued_at: datetime, host: str, principal: str | None
) -> IssuedToken:
    try:
        document = json.loads(raw)
    except (ValueError, UnicodeDecodeError):
        raise MalformedResponse(
            f"response is not JSON ({len(raw)} bytes)", status=200
        ) from None
    auth = document.get("authentication") if isinstance(document, dict) else None
    if not isinstance(auth, dict):
        raise MalformedResponse("response has no 'authentication' object", status=200)
    token = auth.get("token")
    bearer = auth.get("bearerToken")
    ttl = auth.get("TTL")
    max_ttl = auth.get("maxTTL")
    if not isinstance(token, str) or not token.strip():
        raise MalformedResponse("'authentication.token' is missing or empty", status=200)
    if not isinstance(bearer, str) or not bearer.strip():
        raise MalformedResponse("'authentication.bearerToken' is missing or empty", status=200)
    if isinstance(ttl, bool) or not isinstance(ttl, int) or ttl <= 0:
        raise MalformedResponse("'authentication.TTL' is not a positive integer", status=200)
    if max_ttl is not None and (isinstance(max_ttl, bool) or not isinstance(max_ttl, int)):
        raise MalformedResponse("'authentication.maxTTL' is not an integer", status=200)
    token_type = auth.get("tokenType")
    return IssuedToken(
        token=token,
        bearer_token=bearer,
        token_type=token_type if isinstance(token_type, str) else "ServiceAccount",
        ttl=ttl,
        max_ttl=max_ttl,
        issued_at=issued_at,
        host=host,
        principal=principal,
    )
