"""`external-identity exchange --mode azure` against the local Entra peer and the Phase peer."""

from __future__ import annotations

import json

import pytest
from support.peers.entra_peer import EntraPeer
from support.peers.phase_model import ServiceAccount
from support.peers.phase_server import PhaseServer

from tests.cli.running import CliResult, run_cli, run_cli_process

pytestmark = pytest.mark.usefixtures("loopback_only")

RESOURCE = "https://management.azure.com/"


@pytest.fixture
def account(
    phase_server: PhaseServer, entra_peer: EntraPeer, entra_env: dict[str, str]
) -> ServiceAccount:
    created = phase_server.add_service_account()
    phase_server.add_azure_identity(
        created,
        tenant_id=entra_peer.tenant_id,
        allowed_service_principals=[entra_peer.oid],
        max_ttl=7200,
    )
    return created


def _args(server: PhaseServer, account_id: str, *extra: str) -> list[str]:
    return [
        "exchange",
        "--mode",
        "azure",
        "--service-account-id",
        account_id,
        "--host",
        server.base_url,
        "--no-store",
        *extra,
    ]


def _exchange(
    capsys: pytest.CaptureFixture[str], server: PhaseServer, account_id: str, *extra: str
) -> CliResult:
    return run_cli(capsys, *_args(server, account_id, *extra))


def test_azure_workload_identity_exchange_prints_a_token_the_peer_issued(
    phase_server: PhaseServer,
    entra_peer: EntraPeer,
    account: ServiceAccount,
    entra_env: dict[str, str],
) -> None:
    result = run_cli_process(*_args(phase_server, account.id, "--ttl", "900"), env=entra_env)
    assert result.code == 0, result.err
    document = json.loads(result.out)
    issued = phase_server.records.find_token(document["token"])
    assert issued is not None and issued.principal == entra_peer.oid
    assert document["ttl"] == 900
    assert document["principal"] == entra_peer.oid
    assert [r.auth_method for r in entra_peer.token_requests()] == ["assertion"]


@pytest.mark.parametrize("version", ["1.0", "2.0"])
def test_v1_and_v2_entra_tokens_are_both_accepted(
    capsys: pytest.CaptureFixture[str],
    phase_server: PhaseServer,
    entra_peer: EntraPeer,
    account: ServiceAccount,
    version: str,
) -> None:
    entra_peer.config.token_version = version  # type: ignore[assignment]
    result = _exchange(capsys, phase_server, account.id)
    assert result.code == 0, result.err


def test_service_principal_secret_from_the_environment_works(
    capsys: pytest.CaptureFixture[str],
    phase_server: PhaseServer,
    entra_peer: EntraPeer,
    account: ServiceAccount,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.delenv("AZURE_FEDERATED_TOKEN_FILE")
    for name, value in entra_peer.env(workload_identity=False, client_secret=True).items():
        monkeypatch.setenv(name, value)
    result = _exchange(capsys, phase_server, account.id)
    assert result.code == 0, result.err
    assert [r.auth_method for r in entra_peer.token_requests()] == ["secret"]


def test_untrusted_service_principal_is_refused(
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
    result = _exchange(capsys, phase_server, other.id)
    assert result.code == 4
    assert result.err.startswith("error: cloud principal is not trusted")
    assert "Untrusted service principal" in result.err


def test_token_signed_by_an_unknown_key_fails_verification(
    capsys: pytest.CaptureFixture[str],
    phase_server: PhaseServer,
    entra_peer: EntraPeer,
    account: ServiceAccount,
) -> None:
    entra_peer.config.signing = "forged"
    result = _exchange(capsys, phase_server, account.id)
    assert result.code == 4
    assert "could not verify the cloud identity proof: HTTP 401" in result.err


def test_token_for_another_resource_fails_the_audience_check(
    capsys: pytest.CaptureFixture[str],
    phase_server: PhaseServer,
    account: ServiceAccount,
) -> None:
    result = _exchange(
        capsys, phase_server, account.id, "--azure-resource", "https://vault.azure.net"
    )
    assert result.code == 4
    assert "HTTP 401" in result.err


def test_expired_entra_token_fails_verification(
    capsys: pytest.CaptureFixture[str],
    phase_server: PhaseServer,
    entra_peer: EntraPeer,
    account: ServiceAccount,
) -> None:
    entra_peer.config.expired = True
    result = _exchange(capsys, phase_server, account.id)
    assert result.code == 4
    assert "HTTP 401" in result.err


def test_ttl_above_the_identity_maximum_is_refused(
    capsys: pytest.CaptureFixture[str],
    phase_server: PhaseServer,
    account: ServiceAccount,
) -> None:
    result = _exchange(capsys, phase_server, account.id, "--ttl", "7201")
    assert result.code == 4
    assert "exceeds the identity's maximum TTL" in result.err


def test_entra_refusing_to_issue_is_a_credentials_problem(
    capsys: pytest.CaptureFixture[str],
    phase_server: PhaseServer,
    entra_peer: EntraPeer,
    account: ServiceAccount,
) -> None:
    entra_peer.config.fail_next(
        5,
        status=400,
        error="invalid_client",
        code=700016,
        message="Application not found in the directory.",
    )
    result = _exchange(capsys, phase_server, account.id)
    assert result.code == 3
    assert result.err.startswith("error: Entra refused to issue a token")
    assert result.err.count("\n") == 1, "one clear line"
    assert phase_server.records.requests == []


def test_workload_identity_without_a_client_id_names_the_missing_label(
    capsys: pytest.CaptureFixture[str],
    phase_server: PhaseServer,
    account: ServiceAccount,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.delenv("AZURE_CLIENT_ID")
    result = _exchange(capsys, phase_server, account.id)
    assert result.code == 3
    assert "AZURE_CLIENT_ID" in result.err and "azure.workload.identity/use" in result.err
