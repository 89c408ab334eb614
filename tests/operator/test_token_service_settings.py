"""An identity's `spec.tokenService` settings reach the operator's exchanges.

`caBundle`: a token service behind a private CA (a Phase peer over HTTPS with a throwaway CA the
operator's process does not otherwise trust). `timeoutSeconds`: a Phase peer that does not
answer; it records when the operator gave up on the request.
"""

from __future__ import annotations

import ssl
from collections.abc import Callable, Iterator

import pytest
import trustme
from support.operator import OperatorProcess
from support.peers.helpers import aws_account
from support.peers.phase_model import ServiceAccount
from support.peers.phase_server import CLIENT_CLOSED, PhaseServer
from support.peers.sts_peer import StsPeer

from tests.operator.harness import Cluster, wait_for

pytestmark = pytest.mark.usefixtures("loopback_only")


@pytest.fixture
def private_ca() -> trustme.CA:
    return trustme.CA()


@pytest.fixture
def tls_phase(private_ca: trustme.CA) -> Iterator[PhaseServer]:
    """A second Phase peer, over HTTPS with a certificate of ``private_ca``."""
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    private_ca.issue_cert("127.0.0.1").configure_cert(context)
    server = PhaseServer(ssl_context=context)
    server.start()
    yield server
    server.stop()


def test_a_token_service_behind_a_private_ca_is_trusted_through_the_ca_bundle(
    cluster: Cluster, sts_peer: StsPeer, tls_phase: PhaseServer, private_ca: trustme.CA,
    start_operator: Callable[..., OperatorProcess],
) -> None:
    account, _ = aws_account(tls_phase, sts_peer, max_ttl=3600)
    pem = private_ca.cert_pem.bytes().decode()
    cluster.apply_identity("private-ca", tokenService={"host": tls_phase.base_url,
                                                       "caBundle": pem})
    cluster.apply_identity("system-cas", tokenService={"host": tls_phase.base_url})
    cluster.apply_binding(account.id, name="with-bundle", secret="with-bundle",
                          identity="private-ca", ttl=600)
    cluster.apply_binding(account.id, name="without", secret="without",
                          identity="system-cas", ttl=600)
    start_operator()

    cluster.wait_ready("TokenIssued", name="with-bundle")
    issued = tls_phase.records.find_token(cluster.token("with-bundle") or "")
    assert issued is not None and issued.service_account_id == account.id
    failed = cluster.wait_ready("ExchangeFailed", name="without")
    assert "CERTIFICATE_VERIFY_FAILED" in failed["message"]
    assert cluster.secret("without") is None
    assert len(tls_phase.records.tokens) == 1, "no request got through without the CA"


def test_an_answer_slower_than_timeout_seconds_is_given_up_after_that_long(
    cluster: Cluster, account: ServiceAccount, start_operator: Callable[..., OperatorProcess],
) -> None:
    timeout = 3.0  # the default is 15 s
    cluster.phase.hang(seconds=60)
    cluster.apply_identity(tokenService={"host": cluster.phase.base_url,
                                         "timeoutSeconds": timeout})
    cluster.apply_binding(account.id, ttl=600)
    start_operator()

    abandoned = wait_for(
        lambda: next((r for r in cluster.phase.records.requests if r.status == CLIENT_CLOSED),
                     None),
        timeout=25, message="the operator giving up on the hanging request",
    )
    assert abandoned.arrived_at is not None
    waited = abandoned.received_at - abandoned.arrived_at
    assert timeout - 0.1 <= waited <= timeout + 2.5, f"gave up after {waited:.2f} s"
    cluster.wait_ready("TokenIssued")  # the retry is answered at once
    [event] = [e for e in cluster.events() if e.reason == "ExchangeFailed"]
    assert "no answer from" in event.message and "in time" in event.message
