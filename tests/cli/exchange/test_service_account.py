"""`external-identity exchange --service-account N/S`: one exchange as a Kubernetes ServiceAccount.

The CLI runs as a process against the emulator's kubeconfig; the ServiceAccount's token
(TokenRequest) is exchanged at the STS or Entra peer, and the Phase peer sees the
ServiceAccount's own principal, never this machine's credentials.
"""

from __future__ import annotations

import json

import pytest
from support.kube.server import KubeAPI
from support.peers.entra_peer import EntraPeer, FederatedCredential
from support.peers.phase_server import PhaseServer
from support.peers.sts_peer import StsPeer

from tests.cli.running import CliResult, aws_exchange, run_cli, run_cli_process

pytestmark = pytest.mark.usefixtures("loopback_only")


def _service_account(kube: KubeAPI, name: str = "api", **annotations: str) -> None:
    kube.ensure_namespace("payments")
    kube.core_v1().create_namespaced_service_account(
        "payments", {"metadata": {"name": name, "annotations": annotations}})


def _aws(sts: StsPeer, phase: PhaseServer, kube: KubeAPI) -> str:
    """payments/api with an IRSA role that trusts it; a Phase account that trusts the role."""
    role = sts.create_workload_role("cli-payments", issuer=kube.url, namespace="payments",
                                    service_account="api")
    _service_account(kube, **{"eks.amazonaws.com/role-arn": role})
    account = phase.add_service_account()
    phase.add_aws_identity(account, sts_endpoint=sts.endpoint,
                           trusted_principals=[sts.trust_pattern("cli-payments")])
    return account.id


def test_an_aws_exchange_as_a_service_account_proves_its_role(
    phase_server: PhaseServer, sts_peer: StsPeer, kube_api: KubeAPI, aws_env: dict[str, str]
) -> None:
    account_id = _aws(sts_peer, phase_server, kube_api)
    result = run_cli_process(
        *aws_exchange(phase_server, sts_peer, account_id), "--no-store",
        "--service-account", "payments/api", "--kubeconfig", str(kube_api.kubeconfig_path),
        env=aws_env,
    )
    assert result.code == 0, result.err
    assumed = f"arn:aws:sts::{sts_peer.account_id}:assumed-role/cli-payments/payments.api"
    assert json.loads(result.out)["principal"] == assumed
    assert [token.principal for token in phase_server.records.tokens] == [assumed]
    assert all(token not in result.err for token in kube_api.emulator.signer.issued)


def test_an_azure_exchange_as_a_service_account_proves_its_app(
    capsys: pytest.CaptureFixture[str], phase_server: PhaseServer, entra_peer: EntraPeer,
    kube_api: KubeAPI, aiohttp_trusts_entra: None,
) -> None:
    app = entra_peer.add_client(federated=(FederatedCredential(
        issuer=kube_api.url, subject="system:serviceaccount:payments:api"),))
    _service_account(kube_api, **{"azure.workload.identity/client-id": app.client_id})
    account = phase_server.add_service_account()
    phase_server.add_azure_identity(account, tenant_id=entra_peer.tenant_id,
                                    allowed_service_principals=[app.oid])
    result = run_cli(
        capsys, "exchange", "--mode", "azure", "--service-account-id", account.id,
        "--host", phase_server.base_url, "--no-store", "--service-account", "payments/api",
        "--kubeconfig", str(kube_api.kubeconfig_path),
        "--azure-tenant-id", entra_peer.tenant_id,
        "--azure-authority-host", entra_peer.authority_host,
    )
    assert result.code == 0, result.err
    assert json.loads(result.out)["principal"] == app.oid
    assert [r.auth_method for r in entra_peer.token_requests()] == ["assertion"]


def test_an_unannotated_service_account_is_credentials_unavailable(
    capsys: pytest.CaptureFixture[str], phase_server: PhaseServer, sts_peer: StsPeer,
    kube_api: KubeAPI, aws_env: dict[str, str],
) -> None:
    _service_account(kube_api, "plain")
    result: CliResult = run_cli(
        capsys, *aws_exchange(phase_server, sts_peer, "0f1a2b3c-4d5e-6789-abcd-ef0123456789"),
        "--no-store", "--service-account", "payments/plain",
        "--kubeconfig", str(kube_api.kubeconfig_path),
    )
    assert result.code == 3
    assert "ServiceAccount payments/plain has no eks.amazonaws.com/role-arn" in result.err
    assert phase_server.records.requests == []


@pytest.mark.parametrize("value", ["api", "payments/", "Payments/api", "a/b/c"])
def test_a_malformed_service_account_is_a_usage_error(
    capsys: pytest.CaptureFixture[str], phase_server: PhaseServer, sts_peer: StsPeer,
    value: str,
) -> None:
    with pytest.raises(SystemExit) as usage:
        run_cli(capsys, *aws_exchange(phase_server, sts_peer,
                                      "0f1a2b3c-4d5e-6789-abcd-ef0123456789"),
                "--no-store", "--service-account", value)
    assert usage.value.code == 2
