"""No token, bearer token, cloud secret, session token or JWT in logs, errors or CLI output.

The CLI runs as a real process at DEBUG verbosity; everything it writes to stderr
(logs and the error line) is searched for every secret the run involved.
"""

from __future__ import annotations

import base64
import json

import pytest
from support.peers.entra_peer import EntraPeer
from support.peers.helpers import aws_account
from support.peers.phase_server import PhaseServer
from support.peers.sts_peer import StsPeer

from tests.cli.running import aws_exchange, run_cli_process

pytestmark = pytest.mark.usefixtures("loopback_only")


def _assert_absent(text: str, secrets: list[str]) -> None:
    for secret in secrets:
        assert secret and secret not in text, "secret material leaked"
    assert "eyJ" not in text, "something JWT-shaped leaked"
    assert "pss_service:" not in text


def _issued_secrets(server: PhaseServer) -> list[str]:
    found: list[str] = []
    for token in server.records.tokens:
        found += [token.token, token.bearer_token, token.token_value]
    return found


def _aws_run(
    server: PhaseServer, sts: StsPeer, env: dict[str, str], account_id: str, *extra: str
) -> tuple[int, str, str]:
    result = run_cli_process(
        "--log-level",
        "DEBUG",
        *aws_exchange(server, sts, account_id),
        *extra,
        env=env,
    )
    return result.code, result.out, result.err


def test_successful_aws_exchange_logs_no_secrets(
    phase_server: PhaseServer,
    sts_peer: StsPeer,
    aws_env: dict[str, str],
) -> None:
    account, _ = aws_account(phase_server, sts_peer)
    code, out, err = _aws_run(phase_server, sts_peer, aws_env, account.id, "--no-store")
    assert code == 0, err
    issued = _issued_secrets(phase_server)
    assert json.loads(out)["token"] in issued  # --no-store prints it, by request, on stdout
    signed = phase_server.records.requests[-1].payload["awsIam"]["httpRequestHeaders"]
    authorization = json.loads(base64.b64decode(signed))["Authorization"]
    _assert_absent(
        err,
        [
            *issued,
            aws_env["AWS_SECRET_ACCESS_KEY"],
            aws_env["AWS_SESSION_TOKEN"],
            authorization.rsplit("Signature=", 1)[1],
        ],
    )


@pytest.mark.parametrize("fault", ["untrusted", "skew", "garbage", "sts-refuses"])
def test_failed_aws_exchanges_log_no_secrets(
    phase_server: PhaseServer,
    sts_peer: StsPeer,
    aws_env: dict[str, str],
    fault: str,
) -> None:
    env = dict(aws_env)
    trusted = [
        sts_peer.trust_pattern("unrelated-workload" if fault == "untrusted" else "phase-operator")
    ]
    account, _ = aws_account(phase_server, sts_peer, trusted_principals=trusted)
    if fault == "skew":
        phase_server.config.clock_offset = 600
    if fault == "garbage":
        phase_server.respond_raw(
            body=b'{"authentication": {"token": "pss_service:v2:' + b"ab" * 40 + b'", "TTL": "x"}}'
        )
    if fault == "sts-refuses":
        env["AWS_SECRET_ACCESS_KEY"] = "wrong" + env["AWS_SECRET_ACCESS_KEY"][5:]
    code, out, err = _aws_run(phase_server, sts_peer, env, account.id, "--no-store")
    assert code != 0
    assert out == ""
    _assert_absent(
        err,
        [
            aws_env["AWS_SECRET_ACCESS_KEY"],
            env["AWS_SECRET_ACCESS_KEY"],
            aws_env["AWS_SESSION_TOKEN"],
            "ab" * 40,
        ],
    )


def test_azure_exchange_logs_no_jwt_or_client_secret(
    phase_server: PhaseServer,
    entra_peer: EntraPeer,
    tmp_path: object,
) -> None:
    env = entra_peer.env(client_secret=True)
    account = phase_server.add_service_account()
    phase_server.add_azure_identity(
        account,
        tenant_id=entra_peer.tenant_id,
        allowed_service_principals=["00000000-0000-0000-0000-000000000009"],
    )
    result = run_cli_process(
        "--log-level",
        "DEBUG",
        "exchange",
        "--mode",
        "azure",
        "--service-account-id",
        account.id,
        "--host",
        phase_server.base_url,
        "--no-store",
        env=env,
    )
    assert result.code == 4, result.err
    jwt = base64.b64decode(phase_server.records.requests[-1].payload["azureEntra"]["jwt"]).decode()
    with open(env["AZURE_FEDERATED_TOKEN_FILE"]) as assertion:
        federated = assertion.read().strip()
    _assert_absent(result.err + result.out, [jwt, federated, env["AZURE_CLIENT_SECRET"]])
