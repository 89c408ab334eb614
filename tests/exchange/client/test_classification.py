"""Every answer but a 200 is classified: the client hands status, headers and body to
:mod:`external_identity.exchange.replies` (whose own tests, tests/exchange/test_replies.py, hold the
table of statuses and messages) and never follows a redirect."""

from __future__ import annotations

import pytest
from support.peers.phase_server import PhaseServer

from external_identity.errors import (
    InvalidRequest,
    MalformedResponse,
    TokenServiceError,
)
from external_identity.exchange.client import TokenServiceClient
from tests.exchange.client.conftest import ACCOUNT_ID, FixedProof

pytestmark = pytest.mark.usefixtures("loopback_only")


async def _refusal(client: TokenServiceClient) -> TokenServiceError:
    with pytest.raises(TokenServiceError) as raised:
        await client.exchange(FixedProof(), service_account_id=ACCOUNT_ID)
    return raised.value


@pytest.mark.parametrize("status", [201, 204, 302, 304])
async def test_an_unexpected_non_error_status_is_a_malformed_response(
    phase_server: PhaseServer, client: TokenServiceClient, status: int
) -> None:
    phase_server.fail(status=status, body=b"", content_type="text/plain")
    error = await _refusal(client)
    assert type(error) is MalformedResponse
    assert f"unexpected status {status}" in str(error)
    assert error.retryable


async def test_a_refusal_from_the_real_peer_is_classified_by_its_own_rules(
    phase_server: PhaseServer, client: TokenServiceClient
) -> None:
    """No fault: the peer itself refuses the stand-in proof, which signs nothing."""
    error = await _refusal(client)
    assert type(error) is InvalidRequest
    assert error.server_message == "Invalid awsIam request encoding"
