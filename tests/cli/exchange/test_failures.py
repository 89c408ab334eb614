"""Transient and malformed answers from the token service, as the CLI reports them."""

from __future__ import annotations

import json
import socket

import pytest
from support.peers.phase_model import ServiceAccount
from support.peers.phase_server import PhaseServer
from support.peers.sts_peer import StsPeer

from tests.cli.running import CliResult, run_cli

pytestmark = pytest.mark.usefixtures("loopback_only")


def _exchange(
    capsys: pytest.CaptureFixture[str], host: str, sts: StsPeer, account_id: str, *extra: str
) -> CliResult:
    return run_cli(
        capsys,
        "exchange",
        "--mode",
        "aws-iam",
        "--service-account-id",
        account_id,
        "--host",
        host,
        "--sts-endpoint",
        sts.endpoint,
        "--no-store",
        *extra,
    )


def _one_line(result: CliResult) -> str:
    assert result.err.count("\n") == 1, result.err
    assert result.out == ""
    return result.err


def test_rate_limiting_reports_retry_after(
    capsys: pytest.CaptureFixture[str],
    phase_server: PhaseServer,
    sts_peer: StsPeer,
    account: ServiceAccount,
) -> None:
    phase_server.rate_limit(retry_after=30)
    result = _exchange(capsys, phase_server.base_url, sts_peer, account.id)
    assert result.code == 5
    assert _one_line(result).startswith("error: token service is rate limiting requests: HTTP 429")


def test_server_errors_are_unavailable(
    capsys: pytest.CaptureFixture[str],
    phase_server: PhaseServer,
    sts_peer: StsPeer,
    account: ServiceAccount,
) -> None:
    phase_server.config.unavailable = True
    result = _exchange(capsys, phase_server.base_url, sts_peer, account.id)
    assert result.code == 5
    assert _one_line(result).startswith("error: token service unavailable: HTTP 503")


def test_a_hung_server_times_out(
    capsys: pytest.CaptureFixture[str],
    phase_server: PhaseServer,
    sts_peer: StsPeer,
    account: ServiceAccount,
) -> None:
    phase_server.hang(seconds=5)
    result = _exchange(capsys, phase_server.base_url, sts_peer, account.id, "--timeout", "0.5")
    assert result.code == 5
    assert "no answer from" in _one_line(result)


def test_nothing_listening_is_unavailable(
    capsys: pytest.CaptureFixture[str],
    sts_peer: StsPeer,
    account: ServiceAccount,
) -> None:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    result = _exchange(capsys, f"http://127.0.0.1:{port}", sts_peer, account.id)
    assert result.code == 5
    assert "cannot connect to" in _one_line(result)


def test_dropped_connection_is_unavailable(
    capsys: pytest.CaptureFixture[str],
    phase_server: PhaseServer,
    sts_peer: StsPeer,
    account: ServiceAccount,
) -> None:
    phase_server.disconnect()
    result = _exchange(capsys, phase_server.base_url, sts_peer, account.id)
    assert result.code == 5
    assert "broke mid-response" in _one_line(result)


def test_truncated_body_is_not_mistaken_for_a_token(
    capsys: pytest.CaptureFixture[str],
    phase_server: PhaseServer,
    sts_peer: StsPeer,
    account: ServiceAccount,
) -> None:
    phase_server.truncate()
    result = _exchange(capsys, phase_server.base_url, sts_peer, account.id)
    assert result.code == 5
    assert "broke mid-response" in _one_line(result)


@pytest.mark.parametrize(
    ("body", "expected"),
    [
        (b"<html>gateway</html>", "response is not JSON"),
        (b'{"authentication": null}', "no 'authentication' object"),
        (
            b'{"authentication": {"token": "", "bearerToken": "x", "TTL": 60}}',
            "'authentication.token' is missing, empty",
        ),
        (
            b'{"authentication": {"token": "t", "bearerToken": "b", "TTL": "60"}}',
            "'authentication.TTL' is not a positive integer",
        ),
        (
            b'{"authentication": {"token": "t", "bearerToken": "b", "TTL": -5}}',
            "'authentication.TTL' is not a positive integer",
        ),
        (b"[1, 2, 3]", "no 'authentication' object"),
    ],
)
def test_malformed_success_responses_are_refused(
    capsys: pytest.CaptureFixture[str],
    phase_server: PhaseServer,
    sts_peer: StsPeer,
    account: ServiceAccount,
    body: bytes,
    expected: str,
) -> None:
    phase_server.respond_raw(body=body)
    result = _exchange(capsys, phase_server.base_url, sts_peer, account.id)
    assert result.code == 5
    line = _one_line(result)
    assert line.startswith("error: token service returned a malformed response")
    assert expected in line


def test_huge_response_is_not_read_into_memory(
    capsys: pytest.CaptureFixture[str],
    phase_server: PhaseServer,
    sts_peer: StsPeer,
    account: ServiceAccount,
) -> None:
    filler = "x" * (8 * 1024 * 1024)
    phase_server.respond_raw(body=json.dumps({"authentication": {"pad": filler}}).encode())
    result = _exchange(capsys, phase_server.base_url, sts_peer, account.id)
    assert result.code == 5
    assert "larger than 65536 bytes" in _one_line(result)


def test_hostile_error_text_is_truncated_and_token_shapes_redacted(
    capsys: pytest.CaptureFixture[str],
    phase_server: PhaseServer,
    sts_peer: StsPeer,
    account: ServiceAccount,
) -> None:
    leaked = "pss_service:v2:" + "ab" * 32
    phase_server.fail(status=400, body={"error": f"bad request {leaked} " + "y" * 5000})
    result = _exchange(capsys, phase_server.base_url, sts_peer, account.id)
    line = _one_line(result)
    assert leaked not in line and "[redacted]" in line
    assert len(line) < 600


@pytest.mark.parametrize(
    "args",
    [
        ["--service-account-id", "not-a-uuid", "--no-store"],
        ["--service-account-id", "0f1a2b3c-4d5e-6789-abcd-ef0123456789"],
        [
            "--service-account-id",
            "0f1a2b3c-4d5e-6789-abcd-ef0123456789",
            "--no-store",
            "--ttl",
            "0",
        ],
        ["--service-account-id", "0f1a2b3c-4d5e-6789-abcd-ef0123456789", "--secret", "no-slash"],
    ],
)
def test_bad_flags_exit_with_usage_errors(
    capsys: pytest.CaptureFixture[str],
    args: list[str],
) -> None:
    with pytest.raises(SystemExit) as exited:
        run_cli(capsys, "exchange", "--mode", "aws-iam", *args)
    assert exited.value.code == 2
    assert "error:" in capsys.readouterr().err


def test_help_documents_every_exchange_flag(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit):
        run_cli(capsys, "exchange", "--help")
    text = capsys.readouterr().out
    for flag in (
        "--mode",
        "--service-account-id",
        "--host",
        "--path-prefix",
        "--ttl",
        "--no-store",
        "--secret",
        "--secret-key",
        "--azure-resource",
        "--region",
        "--sts-endpoint",
        "--ca-bundle",
        "--timeout",
        "--kubeconfig",
    ):
        assert flag in text


def test_help_says_the_pods_region_never_picks_the_sts_endpoint(
    capsys: pytest.CaptureFixture[str],
) -> None:
    with pytest.raises(SystemExit):
        run_cli(capsys, "exchange", "--help")
    text = " ".join(capsys.readouterr().out.split())
    assert "https://sts.REGION.amazonaws.com (us-east-1 too" in text
    assert "The pod's AWS_REGION never picks the endpoint" in text
    assert "the signing region is read from its host" in text
    assert "else the global https://sts.amazonaws.com" in text
