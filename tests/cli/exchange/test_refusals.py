"""A refusal that is about *who* asked names that principal, so the user knows what to trust."""

from __future__ import annotations

import pytest
from support.peers.entra_peer import EntraPeer
from support.peers.helpers import aws_account
from support.peers.phase_server import PhaseServer
from support.peers.sts_peer import StsPeer

from tests.cli.running import aws_exchange, run_cli

pytestmark = pytest.mark.usefixtures("loopback_only")


def test_an_untrusted_aws_principal_is_printed_after_the_error(
    capsys: pytest.CaptureFixture[str],
    phase_server: PhaseServer,
    sts_peer: StsPeer,
    aws_env: dict[str, str],
) -> None:
    other, _ = aws_account(
        phase_server, sts_peer, trusted_principals=[sts_peer.trust_pattern("unrelated-workload")]
    )
    result = run_cli(capsys, *aws_exchange(phase_server, sts_peer, other.id), "--no-store")
    assert result.code == 4
    assert result.out == ""
    error, principal = result.err.splitlines()
    assert error.startswith("error: cloud principal is not trusted")
    assert "Untrusted principal" in error
    assert principal == f"principal: {sts_peer.assumed_role_arn}"
    assert sts_peer.assumed_role_arn.startswith("arn:aws:sts::")


def test_an_untrusted_azure_service_principal_is_printed_after_the_error(
    capsys: pytest.CaptureFixture[str],
    phase_server: PhaseServer,
    entra_peer: EntraPeer,
    entra_env: dict[str, str],
) -> None:
    other = phase_server.add_service_account()
    phase_server.add_azure_identity(
        other,
        tenant_id=entra_peer.tenant_id,
        allowed_service_principals=["00000000-0000-0000-0000-000000000001"],
    )
    result = run_cli(
        capsys, "exchange", "--mode", "azure", "--service-account-id", other.id,
        "--host", phase_server.base_url, "--no-store",
    )
    assert result.code == 4
    error, principal = result.err.splitlines()
    assert "Untrusted service principal" in error
    assert principal == f"principal: {entra_peer.oid}"


def test_a_refusal_that_is_not_about_the_principal_prints_only_the_error(
    capsys: pytest.CaptureFixture[str],
    phase_server: PhaseServer,
    sts_peer: StsPeer,
    aws_env: dict[str, str],
) -> None:
    plain = phase_server.add_service_account(key_management=False)
    phase_server.add_aws_identity(
        plain, sts_endpoint=sts_peer.endpoint, trusted_principals=[sts_peer.trust_pattern()]
    )
    result = run_cli(capsys, *aws_exchange(phase_server, sts_peer, plain.id), "--no-store")
    assert result.code == 4
    assert "server-side key management" in result.err
    assert result.err.count("\n") == 1, result.err
    assert "principal:" not in result.err
