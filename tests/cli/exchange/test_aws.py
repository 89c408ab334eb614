"""`external-identity exchange --mode aws-iam` against the Phase-protocol peer and moto STS."""

from __future__ import annotations

import json
import uuid
from pathlib import Path

import pytest
from support.peers.helpers import aws_account
from support.peers.phase_model import ServiceAccount
from support.peers.phase_server import PhaseServer
from support.peers.sts_peer import StsPeer

from tests.cli.conftest import drop_static_aws_credentials
from tests.cli.running import CliResult, aws_exchange, run_cli, run_cli_process

pytestmark = pytest.mark.usefixtures("loopback_only")


def _args(server: PhaseServer, sts: StsPeer, account_id: str, *extra: str) -> list[str]:
    return [*aws_exchange(server, sts, account_id), "--no-store", *extra]


def _exchange(
    capsys: pytest.CaptureFixture[str],
    server: PhaseServer,
    sts: StsPeer,
    account_id: str,
    *extra: str,
) -> CliResult:
    return run_cli(capsys, *_args(server, sts, account_id, *extra))


def test_aws_exchange_prints_a_token_the_peer_issued(
    phase_server: PhaseServer, sts_peer: StsPeer, account: ServiceAccount, aws_env: dict[str, str]
) -> None:
    result = run_cli_process(
        *_args(phase_server, sts_peer, account.id, "--ttl", "600"), env=aws_env
    )
    assert result.code == 0, result.err
    document = json.loads(result.out)
    issued = phase_server.records.find_token(document["token"])
    assert issued is not None
    assert issued.principal == sts_peer.assumed_role_arn
    assert document["bearerToken"] == issued.bearer_token
    assert document["ttl"] == 600
    assert document["principal"] == sts_peer.assumed_role_arn
    assert document["expiresAt"].endswith("Z")


def test_api_host_form_needs_an_empty_path_prefix(
    capsys: pytest.CaptureFixture[str],
    phase_server: PhaseServer,
    sts_peer: StsPeer,
    account: ServiceAccount,
) -> None:
    result = _exchange(capsys, phase_server, sts_peer, account.id, "--path-prefix", "")
    assert result.code == 0, result.err
    assert phase_server.records.requests[-1].path.startswith("/identities/external/v1/aws/iam/")


def test_without_ttl_the_identity_default_is_granted(
    capsys: pytest.CaptureFixture[str],
    phase_server: PhaseServer,
    sts_peer: StsPeer,
    account: ServiceAccount,
) -> None:
    result = _exchange(capsys, phase_server, sts_peer, account.id)
    assert result.code == 0, result.err
    assert json.loads(result.out)["ttl"] == 3600


def test_irsa_web_identity_credentials_work_unchanged(
    capsys: pytest.CaptureFixture[str],
    phase_server: PhaseServer,
    sts_peer: StsPeer,
    account: ServiceAccount,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    token_file = tmp_path / "token"
    token_file.write_text(sts_peer.web_identity_token())
    drop_static_aws_credentials(monkeypatch)
    for name, value in sts_peer.web_identity_env(token_file).items():
        monkeypatch.setenv(name, value)
    result = _exchange(capsys, phase_server, sts_peer, account.id)
    assert result.code == 0, result.err
    issued = phase_server.records.tokens[-1]
    assert issued.principal.startswith(sts_peer.trust_pattern().rstrip("*"))


# -- each server rejection, as the user sees it ---------------------------------------------


def test_unknown_service_account_is_not_found(
    capsys: pytest.CaptureFixture[str],
    phase_server: PhaseServer,
    sts_peer: StsPeer,
    account: ServiceAccount,
) -> None:
    result = _exchange(capsys, phase_server, sts_peer, str(uuid.uuid4()))
    assert result.code == 4
    assert result.err.startswith("error: service account or external identity not found: HTTP 404")


def test_account_without_an_aws_identity_is_not_found(
    capsys: pytest.CaptureFixture[str],
    phase_server: PhaseServer,
    sts_peer: StsPeer,
    aws_env: dict[str, str],
) -> None:
    bare = phase_server.add_service_account()
    result = _exchange(capsys, phase_server, sts_peer, bare.id)
    assert result.code == 4
    assert "HTTP 404" in result.err


def test_account_without_key_management_names_the_fix(
    capsys: pytest.CaptureFixture[str],
    phase_server: PhaseServer,
    sts_peer: StsPeer,
    aws_env: dict[str, str],
) -> None:
    plain = phase_server.add_service_account(key_management=False)
    phase_server.add_aws_identity(
        plain, sts_endpoint=sts_peer.endpoint, trusted_principals=[sts_peer.trust_pattern()]
    )
    result = _exchange(capsys, phase_server, sts_peer, plain.id)
    assert result.code == 4
    assert "server-side key management" in result.err
    assert "HTTP 403" in result.err


def test_untrusted_principal_is_refused(
    capsys: pytest.CaptureFixture[str],
    phase_server: PhaseServer,
    sts_peer: StsPeer,
    aws_env: dict[str, str],
) -> None:
    other, _ = aws_account(
        phase_server, sts_peer, trusted_principals=[sts_peer.trust_pattern("unrelated-workload")]
    )
    result = _exchange(capsys, phase_server, sts_peer, other.id)
    assert result.code == 4
    assert result.err.startswith("error: cloud principal is not trusted")
    assert "Untrusted principal" in result.err


def test_signature_outside_the_window_points_at_clock_skew(
    capsys: pytest.CaptureFixture[str],
    phase_server: PhaseServer,
    sts_peer: StsPeer,
    account: ServiceAccount,
) -> None:
    phase_server.config.clock_offset = 120
    result = _exchange(capsys, phase_server, sts_peer, account.id)
    assert result.code == 4
    assert "clock skew" in result.err
    assert "Signature expired" in result.err


def test_skew_within_the_window_is_accepted(
    capsys: pytest.CaptureFixture[str],
    phase_server: PhaseServer,
    sts_peer: StsPeer,
    account: ServiceAccount,
) -> None:
    phase_server.config.clock_offset = 30
    assert _exchange(capsys, phase_server, sts_peer, account.id).code == 0


def test_signing_for_another_sts_endpoint_is_a_mismatch(
    capsys: pytest.CaptureFixture[str],
    phase_server: PhaseServer,
    sts_peer: StsPeer,
    aws_env: dict[str, str],
) -> None:
    port = sts_peer.endpoint.rsplit(":", 1)[1]
    elsewhere, _ = aws_account(phase_server, sts_peer)
    elsewhere.identities[0].sts_endpoint = f"http://localhost:{port}"
    result = _exchange(capsys, phase_server, sts_peer, elsewhere.id)
    assert result.code == 4
    assert result.err.startswith("error: STS endpoint does not match")
    assert "STS endpoint mismatch" in result.err
    assert result.err.rstrip().endswith(
        f"the token service expects http://localhost:{port}; "
        "set spec.aws.stsEndpoint (or --sts-endpoint) to it"
    )


def test_credentials_sts_rejects_fail_validation(
    capsys: pytest.CaptureFixture[str],
    phase_server: PhaseServer,
    sts_peer: StsPeer,
    account: ServiceAccount,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "not-the-real-secret-key-0000000000000000")
    result = _exchange(capsys, phase_server, sts_peer, account.id)
    assert result.code == 4
    assert "could not verify the cloud identity proof" in result.err
    assert "AWS STS validation failed" in result.err


def test_ttl_above_the_identity_maximum_is_refused(
    capsys: pytest.CaptureFixture[str],
    phase_server: PhaseServer,
    sts_peer: StsPeer,
    account: ServiceAccount,
) -> None:
    result = _exchange(capsys, phase_server, sts_peer, account.id, "--ttl", "9000")
    assert result.code == 4
    assert result.err.startswith("error: requested TTL exceeds the identity's maximum TTL")
    assert "9000" in result.err and "7200" in result.err


def test_invalid_request_shows_the_servers_message(
    capsys: pytest.CaptureFixture[str],
    phase_server: PhaseServer,
    sts_peer: StsPeer,
    account: ServiceAccount,
) -> None:
    # An honest client cannot produce a malformed body; replay the server's own 400.
    phase_server.fail(status=400, body={"error": "Missing or invalid X-Amz-Date header"})
    result = _exchange(capsys, phase_server, sts_peer, account.id)
    assert result.code == 4
    assert result.err.startswith("error: token service rejected the request as invalid: HTTP 400")
    assert "X-Amz-Date" in result.err


# -- credentials ------------------------------------------------------------------------------


def test_missing_aws_credentials_say_what_to_configure(
    capsys: pytest.CaptureFixture[str],
    phase_server: PhaseServer,
    sts_peer: StsPeer,
    account: ServiceAccount,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    drop_static_aws_credentials(monkeypatch)
    result = _exchange(capsys, phase_server, sts_peer, account.id)
    assert result.code == 3
    assert "no AWS credentials found" in result.err and "IRSA" in result.err
    assert phase_server.records.requests == []


def test_expired_aws_credentials_are_reported_not_sent(
    capsys: pytest.CaptureFixture[str],
    phase_server: PhaseServer,
    sts_peer: StsPeer,
    account: ServiceAccount,
    monkeypatch: pytest.MonkeyPatch,
    tmp_path: Path,
) -> None:
    creds = sts_peer.trusted
    process = tmp_path / "expired-creds.py"
    process.write_text(
        "import json\n"
        f"print(json.dumps({{'Version': 1, 'AccessKeyId': {creds.access_key_id!r}, "
        f"'SecretAccessKey': {creds.secret_access_key!r}, 'SessionToken': {creds.session_token!r}, "
        "'Expiration': '2020-01-01T00:00:00Z'}))\n"
    )
    config = tmp_path / "config"
    config.write_text(f"[default]\ncredential_process = {__import__('sys').executable} {process}\n")
    drop_static_aws_credentials(monkeypatch)
    monkeypatch.setenv("AWS_CONFIG_FILE", str(config))
    result = _exchange(capsys, phase_server, sts_peer, account.id)
    assert result.code == 3
    assert "AWS credentials are expired" in result.err
    assert phase_server.records.requests == []
