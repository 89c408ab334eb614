"""``Retry-After`` reaches the error through the client, and an HTTP date counts from the client's
clock. Its forms and bounds are tested in tests/exchange/test_replies.py."""

from __future__ import annotations

from datetime import timedelta
from email.utils import format_datetime

import pytest
from support.peers.phase_server import PhaseServer

from external_identity.errors import RateLimited, TransientError, Unavailable
from external_identity.exchange.client import TokenServiceClient
from tests.exchange.client.conftest import ACCOUNT_ID, NOW, FixedProof

pytestmark = pytest.mark.usefixtures("loopback_only")


def _http_date(seconds_from_now: float) -> str:
    return format_datetime(NOW + timedelta(seconds=seconds_from_now), usegmt=True)


async def _transient(
    phase_server: PhaseServer, client: TokenServiceClient, status: int, retry_after: str | None
) -> TransientError:
    headers = {} if retry_after is None else {"Retry-After": retry_after}
    phase_server.fail(status=status, body={"error": "busy"}, headers=headers)
    with pytest.raises(TransientError) as raised:
        await client.exchange(FixedProof(), service_account_id=ACCOUNT_ID)
    return raised.value


@pytest.mark.parametrize("status", [429, 503])
async def test_an_http_date_counts_from_the_clients_clock(
    phase_server: PhaseServer, client: TokenServiceClient, status: int
) -> None:
    error = await _transient(phase_server, client, status, _http_date(90))
    assert error.retry_after == 90.0


async def test_without_the_header_there_is_no_retry_after(
    phase_server: PhaseServer, client: TokenServiceClient
) -> None:
    phase_server.config.unavailable = True
    with pytest.raises(Unavailable) as raised:
        await client.exchange(FixedProof(), service_account_id=ACCOUNT_ID)
    assert (raised.value.status, raised.value.retry_after) == (503, None)


async def test_the_peers_own_throttle_is_still_rate_limiting(
    phase_server: PhaseServer, client: TokenServiceClient
) -> None:
    phase_server.rate_limit(retry_after=42)
    with pytest.raises(RateLimited) as raised:
        await client.exchange(FixedProof(), service_account_id=ACCOUNT_ID)
    assert (raised.value.status, raised.value.retry_after) == (429, 42.0)
    assert "throttled" in str(raised.value)
