"""What a token-service reply means, decided without I/O: each refusal's error class and message,
``Retry-After`` in both its forms, and what a 200 must hold to be a grant.

The client (tests/exchange/client/) sends these same bytes over HTTP; here they go straight in.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime
from typing import Any

import httpx
import pytest

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
from external_identity.exchange.replies import (
    MAX_RETRY_AFTER,
    MAX_TTL,
    Grant,
    classify,
    parse_authentication,
)

NOW = datetime(2031, 5, 6, 7, 8, 9, tzinfo=UTC)
SECRET = "pss_service:v2:" + "ab" * 32 + ":" + "cd" * 32
BEARER = "ServiceAccount " + "ab" * 32


def refusal(status: int, body: bytes | dict[str, Any], headers: dict[str, str] | None = None,
            ) -> TokenServiceError:
    raw = json.dumps(body).encode() if isinstance(body, dict) else body
    return classify(status, httpx.Headers(headers or {}), raw, now=NOW)


# -- refusals -----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("status", "message", "kind"),
    [
        (400, "Only service account authentication supported", InvalidRequest),
        (400, "Missing X-Amz-Date header", InvalidRequest),
        (400, "STS endpoint mismatch. Please sign the request for the configured STS endpoint.",
         EndpointMismatch),
        (400, "Requested TTL (9000s) exceeds maximum allowed TTL (7200s)", TTLTooLong),
        (400, "TTL is above the identity's maximum", TTLTooLong),
        (400, "ttl must be an integer", InvalidRequest),
        (401, "Signature expired", SignatureExpired),
        (401, "AWS STS validation failed", ProofRejected),
        (401, "Invalid Entra token", ProofRejected),
        (403, "Server-side key management must be enabled", KeyManagementDisabled),
        (403, "Untrusted principal", UntrustedPrincipal),
        (403, "Untrusted service principal", UntrustedPrincipal),
        (404, "Service account not found", NotFound),
        (405, 'Method "GET" not allowed.', RequestRejected),
        (409, "Conflict", RequestRejected),
        (429, "Request was throttled.", RateLimited),
        (500, "Server Error", Unavailable),
        (502, "Unable to connect to AWS STS", Unavailable),
        (503, "Service Unavailable", Unavailable),
        (504, "AWS STS request timed out", Unavailable),
        (599, "Network connect timeout", Unavailable),
    ],
)
def test_each_status_maps_to_one_error_class(
    status: int, message: str, kind: type[TokenServiceError]
) -> None:
    error = refusal(status, {"error": message})
    assert type(error) is kind
    assert error.status == status
    assert error.server_message == message
    assert str(error).startswith(f"{kind.check}: HTTP {status}: {message.rstrip('.')}")
    assert error.retryable is (status == 429 or status >= 500)


def test_phrases_are_matched_whatever_their_case() -> None:
    assert type(refusal(401, {"error": "SIGNATURE EXPIRED"})) is SignatureExpired
    assert type(refusal(403, {"error": "Key Management disabled"})) is KeyManagementDisabled
    assert type(refusal(400, {"error": "Sts Endpoint Mismatch"})) is EndpointMismatch


def test_a_phrase_only_counts_with_its_own_status() -> None:
    assert type(refusal(403, {"error": "Signature expired"})) is UntrustedPrincipal
    assert type(refusal(401, {"error": "Requested TTL exceeds maximum"})) is ProofRejected


@pytest.mark.parametrize("status", [100, 201, 204, 302, 304])
def test_an_unexpected_non_error_status_is_a_malformed_response(status: int) -> None:
    error = refusal(status, b"")
    assert type(error) is MalformedResponse
    assert f"unexpected status {status}" in str(error)
    assert error.retryable


@pytest.mark.parametrize(
    ("body", "shown"),
    [
        ({"error": "Untrusted principal", "detail": "other"}, "Untrusted principal"),
        ({"detail": "Authentication credentials were not provided."},
         "Authentication credentials were not provided."),
        ({"message": "nope"}, "nope"),
        ({"error": "", "detail": "the detail"}, "the detail"),
        ({"error": 42, "detail": ["x"]}, '{"error": 42, "detail": ["x"]}'),
        (b"<h1>Forbidden</h1>", "<h1>Forbidden</h1>"),
        (b"  \n ", "(empty response body)"),
        (b"", "(empty response body)"),
        (b"\xff\xfe not utf-8", "\ufffd\ufffd not utf-8"),
    ],
)
def test_the_message_is_the_servers_own_words(body: bytes | dict[str, Any], shown: str) -> None:
    assert refusal(403, body).server_message == shown


def test_remote_text_is_one_line_however_it_was_sent() -> None:
    error = refusal(403, {"error": "Untrusted\nprincipal\r\nINFO forged log line"})
    assert error.server_message == "Untrusted principal INFO forged log line"
    assert "\n" not in str(error) and "\r" not in str(error)


def test_a_token_in_a_refusal_is_redacted() -> None:
    error = refusal(400, {"error": f"cannot reuse {SECRET}"})
    assert SECRET not in str(error) and "[redacted]" in str(error)


def test_an_endpoint_mismatch_carries_the_endpoint_the_service_expects() -> None:
    error = refusal(400, {"error": "STS endpoint mismatch.",
                          "expectedEndpoint": "https://sts.eu-west-1.amazonaws.com"})
    assert isinstance(error, EndpointMismatch)
    assert error.expected_endpoint == "https://sts.eu-west-1.amazonaws.com"


@pytest.mark.parametrize("expected", [None, 443, ["https://sts.amazonaws.com"], ""])
def test_an_endpoint_mismatch_without_a_usable_expected_endpoint_names_none(
    expected: object,
) -> None:
    error = refusal(400, {"error": "STS endpoint mismatch.", "expectedEndpoint": expected})
    assert isinstance(error, EndpointMismatch)
    assert error.expected_endpoint is None


# -- Retry-After --------------------------------------------------------------------------------


def _http_date(seconds_from_now: float) -> str:
    return format_datetime(NOW + timedelta(seconds=seconds_from_now), usegmt=True)


@pytest.mark.parametrize("status", [429, 500, 502, 503, 504])
def test_a_rate_limit_or_server_error_carries_the_retry_after_it_sent(status: int) -> None:
    error = refusal(status, {"error": "busy"}, {"Retry-After": "120"})
    assert (error.status, error.retry_after) == (status, 120.0)


@pytest.mark.parametrize("status", [400, 403, 404])
def test_a_refusal_ignores_retry_after(status: int) -> None:
    assert refusal(status, {"error": "no"}, {"Retry-After": "120"}).retry_after is None


@pytest.mark.parametrize("status", [429, 503])
def test_an_http_date_counts_from_now(status: int) -> None:
    assert refusal(status, {"error": "busy"}, {"Retry-After": _http_date(90)}).retry_after == 90.0


def test_an_http_date_without_a_zone_is_taken_as_utc() -> None:
    header = (NOW + timedelta(seconds=45)).strftime("%a, %d %b %Y %H:%M:%S -0000")
    assert refusal(503, {"error": "busy"}, {"Retry-After": header}).retry_after == 45.0


@pytest.mark.parametrize(
    ("header", "expected"),
    [
        ("7", 7.0),
        ("  15  ", 15.0),
        ("2.5", 2.5),
        ("0", 0.0),
        ("999999", MAX_RETRY_AFTER),
        ("Thu, 01 Jan 1970 00:00:00 GMT", 0.0),
        (_http_date(10 * 24 * 3600), MAX_RETRY_AFTER),
    ],
)
@pytest.mark.parametrize("status", [429, 503])
def test_valid_forms_are_clamped_to_zero_and_an_hour(
    status: int, header: str, expected: float
) -> None:
    assert refusal(status, {"error": "busy"}, {"Retry-After": header}).retry_after == expected


@pytest.mark.parametrize(
    "header",
    ["soon", "-5", "1e3", "nan", "inf", "1_000", "0x10", "Wed, 99 Foo 2031 25:61:00 GMT", "",
     "1" * 11],
)
@pytest.mark.parametrize("status", [429, 503])
def test_garbage_is_ignored_not_guessed_at(status: int, header: str) -> None:
    error = refusal(status, {"error": "busy"}, {"Retry-After": header})
    assert error.retry_after is None
    assert error.retryable


def test_without_the_header_there_is_no_retry_after() -> None:
    assert refusal(503, b"<html>busy</html>").retry_after is None


# -- grants -----------------------------------------------------------------------------------


def authentication(**fields: Any) -> bytes:
    auth = {"tokenType": "ServiceAccount", "token": SECRET, "bearerToken": BEARER, "TTL": 3600,
            "maxTTL": 86400}
    auth.update(fields)
    return json.dumps({"authentication": {k: v for k, v in auth.items() if v is not ...}}).encode()


def malformed(raw: bytes) -> str:
    with pytest.raises(MalformedResponse) as raised:
        parse_authentication(raw)
    message = str(raised.value)
    assert raised.value.status == 200 and raised.value.retryable
    assert SECRET not in message and "ab" * 32 not in message
    assert "\n" not in message
    return message


def test_a_documented_answer_is_a_grant() -> None:
    assert parse_authentication(authentication(TTL=900)) == Grant(
        token=SECRET, bearer_token=BEARER, token_type="ServiceAccount", ttl=900, max_ttl=86400)


def test_a_grant_never_shows_its_tokens() -> None:
    shown = repr(parse_authentication(authentication()))
    assert SECRET not in shown and BEARER not in shown


def test_a_grant_without_a_maximum_has_none() -> None:
    assert parse_authentication(authentication(maxTTL=...)).max_ttl is None


def test_a_ttl_of_exactly_ten_years_is_still_a_grant() -> None:
    assert parse_authentication(authentication(TTL=MAX_TTL)).ttl == MAX_TTL


@pytest.mark.parametrize("token_type", [..., {"evil": True}, "", " Service", "two\nlines"])
def test_a_token_type_that_is_not_one_printable_line_is_replaced(token_type: object) -> None:
    assert parse_authentication(authentication(tokenType=token_type)).token_type == (
        "ServiceAccount")


@pytest.mark.parametrize(
    ("fields", "expected"),
    [
        ({"token": ...}, "'authentication.token' is missing, empty"),
        ({"token": ""}, "'authentication.token' is missing, empty"),
        ({"token": ["x"]}, "'authentication.token' is missing, empty"),
        ({"token": SECRET + "\nX-Injected: yes"}, "'authentication.token' is missing, empty"),
        ({"token": " " + SECRET}, "'authentication.token' is missing, empty"),
        ({"bearerToken": ...}, "'authentication.bearerToken' is missing"),
        ({"bearerToken": "ServiceAccount x\r\n"}, "'authentication.bearerToken' is missing"),
        ({"bearerToken": "ServiceAccount \x00x"}, "'authentication.bearerToken' is missing"),
        ({"TTL": ...}, "'authentication.TTL' is not a positive integer"),
        ({"TTL": "3600"}, "'authentication.TTL' is not a positive integer"),
        ({"TTL": 3600.0}, "'authentication.TTL' is not a positive integer"),
        ({"TTL": True}, "'authentication.TTL' is not a positive integer"),
        ({"TTL": 0}, "'authentication.TTL' is not a positive integer"),
        ({"TTL": -60}, "'authentication.TTL' is not a positive integer"),
        ({"TTL": MAX_TTL + 1}, f"'authentication.TTL' of {MAX_TTL + 1}s is over ten years"),
        ({"TTL": 10**15}, "'authentication.TTL' of 1000000000000000s is over ten years"),
        ({"maxTTL": "86400"}, "'authentication.maxTTL' is not an integer"),
        ({"maxTTL": False}, "'authentication.maxTTL' is not an integer"),
        ({"maxTTL": 1.5}, "'authentication.maxTTL' is not an integer"),
    ],
)
def test_a_200_without_a_usable_token_is_malformed(fields: dict[str, Any], expected: str) -> None:
    assert expected in malformed(authentication(**fields))


@pytest.mark.parametrize(
    ("body", "expected"),
    [
        (b"<html>gateway</html>", "response is not JSON (20 bytes)"),
        (b"[" * 50_000, "response is not JSON (50000 bytes)"),
        (b'{"a":' * 10_000 + b"1" + b"}" * 10_000, "response is not JSON"),
        (b'{"authentication": {"TTL": ' + b"9" * 5000 + b"}}", "response is not JSON"),
        (b"\xff\xfe\x00{", "response is not JSON"),
        (b"", "response is not JSON (0 bytes)"),
        (b"null", "no 'authentication' object"),
        (b'"authentication"', "no 'authentication' object"),
        (b'{"authentication": "' + SECRET.encode() + b'"}', "no 'authentication' object"),
        (b'{"authentication": [1]}', "no 'authentication' object"),
        (b"[1, 2, 3]", "no 'authentication' object"),
    ],
)
def test_hostile_bodies_are_refused_without_crashing(body: bytes, expected: str) -> None:
    assert expected in malformed(body)
