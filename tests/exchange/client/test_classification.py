"""Each status the token service can answer maps onto one error class, with its message."""

from __future__ import annotations

import pytest
from support.peers.phase_server import PhaseServer

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
from external_identity.exchange.client import TokenServiceClient
from tests.exchange.client.conftest import ACCOUNT_ID, FixedProof

pytestmark = pytest.mark.usefixtures("loopback_only")


async def _refusal(client: TokenServiceClient) -> TokenServiceError:
    with pytest.raises(TokenServiceError) as raised:
        await client.exchange(FixedProof(), service_account_id=ACCOUNT_ID)
    return raised.value


@pytest.mark.parametrize(
    ("status", "message", "kind"),
    [
        (400, "Only service account authentication supported", InvalidRequest),
        (400, "Missing X-Amz-Date header", InvalidRequest),
        (400, "STS endpoint mismatch. Please sign the request for the configured STS endpoint.",
         EndpointMismatch),
        (400, "Requested TTL (9000s) exceeds maximum allowed TTL (7200s)", TTLTooLong),
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
    ],
)
async def test_each_status_maps_to_one_error_class(
    phase_server: PhaseServer,
    client: TokenServiceClient,
    status: int,
    message: str,
    kind: type[TokenServiceError],
) -> None:
    phase_server.fail(status=status, body={"error": message})
    error = await _refusal(client)
    assert type(error) is kind
    assert error.status == status
    assert error.server_message == message
    assert str(error).startswith(f"{kind.check}: HTTP {status}: {message.rstrip('.')}")
    assert error.retryable is (status == 429 or status >= 500)


@pytest.mark.parametrize("status", [201, 204, 302, 304])
async def test_an_unexpected_non_error_status_is_a_malformed_response(
    phase_server: PhaseServer, client: TokenServiceClient, status: int
) -> None:
    phase_server.fail(status=status, body=b"", content_type="text/plain")
    error = await _refusal(client)
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
        ({"error": 42, "detail": ["x"]}, '{"error": 42, "detail": ["x"]}'),
        (b"<h1>Forbidden</h1>", "<h1>Forbidden</h1>"),
        (b"", "(empty response body)"),
        (b"\xff\xfe not utf-8", "\ufffd\ufffd not utf-8"),
    ],
)
async def test_the_message_is_the_servers_own_words(
    phase_server: PhaseServer,
    client: TokenServiceClient,
    body: bytes | dict[str, object],
    shown: str,
) -> None:
    phase_server.fail(status=403, body=body)
    assert (await _refusal(client)).server_message == shown


async def test_a_refusal_from_the_real_peer_is_classified_by_its_own_rules(
    phase_server: PhaseServer, client: TokenServiceClient
) -> None:
    """No fault: the peer itself refuses the stand-in proof, which signs nothing."""
    error = await _refusal(client)
    assert type(error) is InvalidRequest
    assert error.server_message == "Invalid awsIam request encoding"


async def test_remote_text_is_one_line_however_it_was_sent(
    phase_server: PhaseServer, client: TokenServiceClient
) -> None:
    phase_server.fail(status=403, body={"error": "Untrusted\nprincipal\r\nINFO forged log line"})
    error = await _refusal(client)
    assert error.server_message == "Untrusted principal INFO forged log line"
    assert "\n" not in str(error) and "\r" not in str(error)
