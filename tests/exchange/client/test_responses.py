"""A 200 becomes a token timed by the client; oversized bodies are cut or refused before they are
read. What a 200 must hold is decided by replies (tests/exchange/test_replies.py)."""

from __future__ import annotations

import json
from datetime import timedelta
from typing import Any

import pytest
from support.peers.phase_server import PhaseServer

from external_identity.errors import InvalidRequest, MalformedResponse, Unavailable
from external_identity.exchange.client import TokenServiceClient
from tests.exchange.client.conftest import ACCOUNT_ID, NOW, PRINCIPAL, ClientFactory, FixedProof

pytestmark = pytest.mark.usefixtures("loopback_only")

SECRET = "pss_service:v2:" + "ab" * 32 + ":" + "cd" * 32


def _authentication(**fields: Any) -> bytes:
    auth = {"tokenType": "ServiceAccount", "token": SECRET,
            "bearerToken": "ServiceAccount " + "ab" * 32, "TTL": 3600, "maxTTL": 86400}
    auth.update(fields)
    return json.dumps({"authentication": {k: v for k, v in auth.items() if v is not ...}}).encode()


async def _malformed(phase_server: PhaseServer, client: TokenServiceClient, body: bytes) -> str:
    phase_server.respond_raw(body=body)
    with pytest.raises(MalformedResponse) as raised:
        await client.exchange(FixedProof(), service_account_id=ACCOUNT_ID)
    message = str(raised.value)
    assert SECRET not in message and "ab" * 32 not in message
    assert "\n" not in message
    return message


async def test_a_documented_answer_becomes_a_token_timed_by_the_client(
    phase_server: PhaseServer, client: TokenServiceClient
) -> None:
    phase_server.respond_raw(body=_authentication(TTL=900))
    token = await client.exchange(FixedProof(), service_account_id=ACCOUNT_ID)
    assert (token.token, token.ttl, token.max_ttl, token.token_type) == (
        SECRET, 900, 86400, "ServiceAccount"
    )
    assert (token.issued_at, token.expires_at) == (NOW, NOW + timedelta(seconds=900))
    assert (token.host, token.principal) == (phase_server.base_url, PRINCIPAL)
    assert SECRET not in repr(token)


# -- size ------------------------------------------------------------------------------------------


async def test_an_oversized_200_is_refused_before_it_is_read(
    phase_server: PhaseServer, make_client: ClientFactory
) -> None:
    client = make_client(max_response_bytes=1024)
    body = _authentication(pad="x" * 4096)
    message = await _malformed(phase_server, client, body)
    assert "larger than 1024 bytes" in message


async def test_a_200_right_at_the_limit_is_accepted(
    phase_server: PhaseServer, make_client: ClientFactory
) -> None:
    body = _authentication()
    client = make_client(max_response_bytes=len(body))
    phase_server.respond_raw(body=body)
    assert (await client.exchange(FixedProof(), service_account_id=ACCOUNT_ID)).ttl == 3600


async def test_an_oversized_error_page_still_classifies_and_keeps_retry_after(
    phase_server: PhaseServer, make_client: ClientFactory
) -> None:
    client = make_client(max_response_bytes=1024)
    page = b"<html>" + b"busy " * 100_000
    phase_server.fail(status=503, body=page, headers={"Retry-After": "30"})
    with pytest.raises(Unavailable) as raised:
        await client.exchange(FixedProof(), service_account_id=ACCOUNT_ID)
    assert (raised.value.status, raised.value.retry_after) == (503, 30.0)
    assert len(str(raised.value)) < 400


async def test_an_oversized_refusal_is_cut_truncated_and_redacted(
    phase_server: PhaseServer, make_client: ClientFactory
) -> None:
    client = make_client(max_response_bytes=2048)
    phase_server.fail(status=400, body={"error": f"bad {SECRET} " + "y" * 100_000})
    with pytest.raises(InvalidRequest) as raised:
        await client.exchange(FixedProof(), service_account_id=ACCOUNT_ID)
    message = str(raised.value)
    assert SECRET not in message and "[redacted]" in message
    assert len(message) < 450
