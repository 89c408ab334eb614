"""Injected faults, routing details, records and the token-use endpoint of the Phase peer."""

from __future__ import annotations

import ssl
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx
import pytest
import trustme
from support.kube.server import wait_for
from support.peers.helpers import aws_account, post, signed_payload
from support.peers.phase_server import CLIENT_CLOSED, PhaseServer
from support.peers.sts_peer import StsPeer

pytestmark = pytest.mark.usefixtures("loopback_only")


@pytest.fixture
def ready(phase_server: PhaseServer, sts_peer: StsPeer) -> tuple[PhaseServer, StsPeer, str]:
    account, _ = aws_account(phase_server, sts_peer)
    return phase_server, sts_peer, account.id


def _exchange(ready: tuple[PhaseServer, StsPeer, str], *, timeout: float = 10.0) -> httpx.Response:
    server, sts, account_id = ready
    account = server.config.service_accounts[account_id]
    return post(server, "aws-iam", signed_payload(sts, account), timeout=timeout)


def test_rate_limiting_answers_429_with_retry_after_then_recovers(
    ready: tuple[PhaseServer, StsPeer, str],
) -> None:
    server = ready[0]
    server.rate_limit(2, retry_after=7)
    first, second, third = (_exchange(ready) for _ in range(3))
    assert (first.status_code, first.headers["Retry-After"]) == (429, "7")
    assert first.json() == {"detail": "Request was throttled. Expected available in 7 seconds."}
    assert second.status_code == 429
    assert third.status_code == 200
    assert server.records.statuses() == [429, 429, 200]


def test_failures_send_the_given_status_with_an_html_body_by_default(
    ready: tuple[PhaseServer, StsPeer, str],
) -> None:
    ready[0].fail(status=502)
    response = _exchange(ready)
    assert response.status_code == 502
    assert response.headers["Content-Type"] == "text/html"
    assert _exchange(ready).status_code == 200


def test_failures_can_carry_a_json_error(ready: tuple[PhaseServer, StsPeer, str]) -> None:
    ready[0].fail(status=500, body={"error": "Failed to mint token"})
    assert _exchange(ready).json() == {"error": "Failed to mint token"}


def test_raw_responses_are_sent_byte_for_byte(ready: tuple[PhaseServer, StsPeer, str]) -> None:
    ready[0].respond_raw(body=b'{"authentication": null}')
    response = _exchange(ready)
    assert (response.status_code, response.content) == (200, b'{"authentication": null}')


def test_huge_responses_can_be_sent(ready: tuple[PhaseServer, StsPeer, str]) -> None:
    ready[0].respond_raw(body=b"x" * 5_000_000, content_type="text/plain")
    assert len(_exchange(ready).content) == 5_000_000


def test_a_truncated_response_breaks_the_read(ready: tuple[PhaseServer, StsPeer, str]) -> None:
    ready[0].truncate()
    with pytest.raises(httpx.RemoteProtocolError):
        _exchange(ready)
    assert _exchange(ready).status_code == 200


def test_a_disconnect_sends_nothing_at_all(ready: tuple[PhaseServer, StsPeer, str]) -> None:
    ready[0].disconnect()
    with pytest.raises(httpx.RemoteProtocolError):
        _exchange(ready)


def test_a_hang_outlasts_a_client_timeout(ready: tuple[PhaseServer, StsPeer, str]) -> None:
    ready[0].hang(seconds=30)
    started = time.monotonic()
    with pytest.raises(httpx.ReadTimeout):
        _exchange(ready, timeout=0.3)
    assert time.monotonic() - started < 5


def test_a_client_that_gives_up_on_a_hang_is_recorded_when_it_left(
    ready: tuple[PhaseServer, StsPeer, str],
) -> None:
    server = ready[0]
    server.hang(seconds=30)
    with pytest.raises(httpx.ReadTimeout):
        _exchange(ready, timeout=0.5)
    record = wait_for(lambda: next(iter(server.records.requests), None), timeout=5,
                      message="the abandoned request recorded")
    assert (record.status, record.fault) == (CLIENT_CLOSED, "hang")
    assert record.arrived_at is not None
    # Recorded when the client left (0.5 s after it sent, less the time the request took to
    # arrive on a busy machine), not when the 30 s hang would have ended.
    assert 0 < record.received_at - record.arrived_at < 3
    assert server.records.tokens == [], "nothing is issued to a client that left"


def test_the_most_requests_in_flight_at_once_are_counted(
    ready: tuple[PhaseServer, StsPeer, str],
) -> None:
    server = ready[0]
    server.hang(3, seconds=0.5)
    with ThreadPoolExecutor(max_workers=3) as pool:
        statuses = [r.status_code for r in pool.map(lambda _: _exchange(ready), range(3))]
    assert statuses == [200, 200, 200]
    assert server.records.peak_in_flight == 3
    server.reset()
    assert server.records.peak_in_flight == 0


def test_a_peer_with_an_ssl_context_serves_https_its_ca_verifies(
    sts_peer: StsPeer, tmp_path: Path,
) -> None:
    ca = trustme.CA()
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    ca.issue_cert("127.0.0.1").configure_cert(context)
    server = PhaseServer(ssl_context=context)
    server.start()
    try:
        assert server.base_url.startswith("https://127.0.0.1:")
        account, _ = aws_account(server, sts_peer)
        payload = signed_payload(sts_peer, account)
        with pytest.raises(httpx.ConnectError):
            httpx.post(server.url("aws-iam"), json=payload, timeout=5)
        bundle = tmp_path / "ca.pem"
        ca.cert_pem.write_to_path(str(bundle))
        verified = httpx.post(server.url("aws-iam"), json=signed_payload(sts_peer, account),
                              verify=ssl.create_default_context(cafile=str(bundle)), timeout=5)
        assert verified.status_code == 200
    finally:
        server.stop()


def test_a_short_hang_then_answers_normally(ready: tuple[PhaseServer, StsPeer, str]) -> None:
    ready[0].hang(seconds=0.2)
    started = time.monotonic()
    assert _exchange(ready).status_code == 200
    assert time.monotonic() - started >= 0.2


def test_reset_answers_requests_still_hanging_and_records_none_of_them(
    ready: tuple[PhaseServer, StsPeer, str],
) -> None:
    server = ready[0]
    server.hang(seconds=60)
    outcome: list[int] = []
    worker = threading.Thread(target=lambda: outcome.append(_exchange(ready).status_code))
    worker.start()
    assert server.hanging.wait(timeout=5)
    server.reset()
    worker.join(timeout=5)
    assert not worker.is_alive()
    assert outcome == [503]  # answered, and left out of the records of what comes next
    assert server.records.requests == []


def test_faults_can_target_one_provider(ready: tuple[PhaseServer, StsPeer, str]) -> None:
    server = ready[0]
    server.fail(status=500, provider="azure")
    assert _exchange(ready).status_code == 200
    assert post(server, "azure", {}).status_code == 500


def test_the_unavailable_switch_answers_503_html_until_cleared(
    ready: tuple[PhaseServer, StsPeer, str],
) -> None:
    server = ready[0]
    server.config.unavailable = True
    response = _exchange(ready)
    assert response.status_code == 503
    assert response.headers["Content-Type"] == "text/html"
    server.config.unavailable = False
    assert _exchange(ready).status_code == 200


def test_unknown_paths_and_missing_trailing_slashes_are_html_404s(
    phase_server: PhaseServer,
) -> None:
    for path in ("/identities/external/v1/aws/iam/auth", "/service/public/v1/aws/iam/auth/"):
        response = httpx.post(phase_server.base_url + path, json={})
        assert (response.status_code, response.headers["Content-Type"]) == (404, "text/html")


def test_auth_endpoints_only_take_post(phase_server: PhaseServer) -> None:
    response = httpx.get(phase_server.url("aws-iam"))
    assert (response.status_code, response.json()) == (405, {"detail": 'Method "GET" not allowed.'})


def test_records_keep_each_request_with_its_status_error_and_payload(
    ready: tuple[PhaseServer, StsPeer, str],
) -> None:
    server = ready[0]
    _exchange(ready)
    post(server, "azure", {"account": {"type": "service", "id": "x"}})
    aws, azure = server.records.requests
    assert (aws.provider, aws.status, aws.error) == ("aws-iam", 200, None)
    assert aws.payload["account"]["id"] == ready[2]
    assert aws.headers["Content-Type"] == "application/json"
    assert (azure.provider, azure.status, azure.error) == ("azure", 400, "Missing azureEntra.jwt")
    assert server.records.count(status=200) == 1


def test_issued_tokens_are_recorded_with_issue_and_expiry_times(
    ready: tuple[PhaseServer, StsPeer, str],
) -> None:
    server, sts, _ = ready
    before = time.time()
    auth = _exchange(ready).json()["authentication"]
    token = server.records.find_token(auth["token"])
    assert token is not None
    assert token == server.records.find_token(auth["bearerToken"])
    assert before - 1 <= token.issued_at <= time.time()
    assert token.expires_at == token.issued_at + auth["TTL"]
    assert token.principal == sts.assumed_role_arn
    assert token.valid_at(token.expires_at - 1) and not token.valid_at(token.expires_at)


def test_the_secrets_endpoint_accepts_a_token_until_it_expires(
    ready: tuple[PhaseServer, StsPeer, str],
) -> None:
    server = ready[0]
    auth = _exchange(ready).json()["authentication"]
    headers = {"Authorization": f"Bearer {auth['bearerToken']}"}
    assert httpx.get(server.base_url + "/v1/secrets/", headers=headers).status_code == 200
    server.config.clock_offset = auth["TTL"] + 1
    assert httpx.get(server.base_url + "/v1/secrets/", headers=headers).status_code == 403


def test_reset_empties_config_records_and_faults(ready: tuple[PhaseServer, StsPeer, str]) -> None:
    server = ready[0]
    _exchange(ready)
    server.fail(3)
    server.config.clock_offset = 50
    server.reset()
    assert server.config.service_accounts == {}
    assert server.config.faults == []
    assert server.config.clock_offset == 0
    assert server.records.requests == [] and server.records.tokens == []
    assert server.config.ca_bundle is not None


def test_concurrent_exchanges_each_get_their_own_recorded_token(
    ready: tuple[PhaseServer, StsPeer, str],
) -> None:
    with ThreadPoolExecutor(max_workers=8) as pool:
        responses = list(pool.map(lambda _: _exchange(ready), range(16)))
    tokens = {r.json()["authentication"]["token"] for r in responses}
    assert len(tokens) == 16
    assert {t.token for t in ready[0].records.tokens} == tokens
    assert ready[0].records.count(status=200, provider="aws-iam") == 16
