from __future__ import annotations

import pytest
from support.peers.helpers import aws_account
from support.peers.phase_model import ServiceAccount
from support.peers.phase_server import PhaseServer
from support.peers.sts_peer import StsPeer

STATIC_AWS_CREDENTIALS = ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN")


def drop_static_aws_credentials(monkeypatch: pytest.MonkeyPatch) -> None:
    """Leave botocore's chain to find credentials some other way (or not at all)."""
    for name in STATIC_AWS_CREDENTIALS:
        monkeypatch.delenv(name)


@pytest.fixture
def account(
    phase_server: PhaseServer, sts_peer: StsPeer, aws_env: dict[str, str]
) -> ServiceAccount:
    """An account whose AWS identity trusts the STS peer's role; max TTL 7200 s."""
    created, _ = aws_account(phase_server, sts_peer, max_ttl=7200)
    return created
