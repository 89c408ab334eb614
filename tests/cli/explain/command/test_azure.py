"""`external-identity explain -f` for Azure, against the Entra peer and the Phase peer."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from support.peers.entra_peer import EntraPeer
from support.peers.phase_model import ServiceAccount
from support.peers.phase_server import PhaseServer

from tests.cli.explain.explaining import (
    assert_failed_at,
    binding,
    explain,
    identity,
    lines_of,
    manifest,
)

pytestmark = pytest.mark.usefixtures("loopback_only")


@pytest.fixture
def account(
    phase_server: PhaseServer, entra_peer: EntraPeer, entra_env: dict[str, str]
) -> ServiceAccount:
    created = phase_server.add_service_account()
    phase_server.add_azure_identity(
        created, tenant_id=entra_peer.tenant_id, allowed_service_principals=[entra_peer.oid]
    )
    return created


def _path(tmp_path: Path, phase: PhaseServer, entra: EntraPeer, account: ServiceAccount) -> str:
    azure = {"tenantId": entra.tenant_id, "authorityHost": entra.authority_host}
    spec = {"provider": "azure", "azure": azure, "tokenService": {"host": phase.base_url}}
    return manifest(tmp_path, identity("prod-azure", **spec),
                    binding(account.id, identity_name="prod-azure"))


def test_every_azure_check_passes_and_exchange_prints_the_token(
    capsys: pytest.CaptureFixture[str],
    tmp_path: Path,
    phase_server: PhaseServer,
    entra_peer: EntraPeer,
    account: ServiceAccount,
    entra_env: dict[str, str],
) -> None:
    result = explain(capsys, "-f", _path(tmp_path, phase_server, entra_peer, account),
                     "--exchange")
    assert result.code == 0, result.err
    report = lines_of(result.err)
    assert [line.split()[0] for line in report.values()] == [
        *["ok"] * 10, "n/a", "ok", "ok"]
    token_file = entra_env["AZURE_FEDERATED_TOKEN_FILE"]
    assert f"Azure workload identity: federated token file {token_file}" in report["credentials"]
    assert f"Entra object ID (oid) {entra_peer.oid}" in report["principal"]
    assert "provider azure signs no STS request" in report["sts-endpoint"]
    assert "over plain HTTP (no TLS)" in report["token-service"]
    document = json.loads(result.out)
    assert phase_server.records.find_token(document["token"]) is not None
    assert document["principal"] == entra_peer.oid


def test_a_missing_federated_token_file_fails_the_credentials_check(
    capsys: pytest.CaptureFixture[str],
    tmp_path: Path,
    phase_server: PhaseServer,
    entra_peer: EntraPeer,
    account: ServiceAccount,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    missing = tmp_path / "no-such-token"
    monkeypatch.setenv("AZURE_FEDERATED_TOKEN_FILE", str(missing))
    result = explain(capsys, "-f", _path(tmp_path, phase_server, entra_peer, account))
    assert_failed_at(result, "credentials", 3, f"federated token file {missing} is missing",
                     "label the pod azure.workload.identity/use=true")


def test_entra_refusing_the_client_fails_the_principal_check(
    capsys: pytest.CaptureFixture[str],
    tmp_path: Path,
    phase_server: PhaseServer,
    entra_peer: EntraPeer,
    account: ServiceAccount,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("AZURE_CLIENT_ID", "00000000-0000-0000-0000-00000000dead")
    result = explain(capsys, "-f", _path(tmp_path, phase_server, entra_peer, account))
    assert_failed_at(result, "principal", 3, "Entra refused to issue a token",
                     "check the app registration's federated credential")
    assert "eyJ" not in result.out + result.err
