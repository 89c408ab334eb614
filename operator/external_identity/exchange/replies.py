"""What a token-service reply means: pure, no I/O.

A reply's status, headers and bytes go in; out comes the :class:`Grant` of a 200's
``authentication`` object, or the :class:`~external_identity.errors.TokenServiceError`
the reply amounts to. Nothing here sends, reads or sleeps; the client in
:mod:`external_identity.exchange.client` does the I/O and adds what it measured.
"""

from __future__ import annotations

import json
import math
import re
from dataclasses import dataclass, field
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime
from typing import Any, TypeGuard

import httpx

from external_identity.errors import (
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

__all__ = ["MAX_RETRY_AFTER", "MAX_TTL", "Grant", "classify", "parse_authentication"]

MAX_RETRY_AFTER = 3600.0
#: A granted TTL above this (ten years) is nonsense, not a token to schedule around.
MAX_TTL = 10 * 365 * 24 * 3600
_DELAY_SECONDS = re.compile(r"\d{1,10}(?:\.\d{1,6})?")


@dataclass(frozen=True)
class Grant:
    """The ``authentication`` object of a 200 reply, checked field by field."""

    token: str = field(repr=False)
    bearer_token: str = field(repr=False)
    token_type: str
    ttl: int
    max_ttl: int | None


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


def classify(
    status: int, headers: httpx.Headers, raw: bytes, *, now: datetime
) -> TokenServiceError:
    """The error a non-200 reply means; ``now`` measures an HTTP-date ``Retry-After``."""
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


def parse_authentication(raw: bytes) -> Grant:
    """The grant in a 200 reply's body; :class:`MalformedResponse` if it holds none."""
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
    return Grant(
        token=token,
        bearer_token=bearer,
        token_type=token_type if _one_line(token_type) else "ServiceAccount",
        ttl=ttl,
        max_ttl=max_ttl,
    )
