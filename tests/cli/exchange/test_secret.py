"""`external-identity exchange --secret NS/NAME` writes through the current kubeconfig."""

from __future__ import annotations

import base64
import json

import pytest
from kubernetes.client import V1ObjectMeta, V1Secret
from support.kube.server import KubeAPI
from support.peers.helpers import aws_account
from support.peers.phase_server import PhaseServer
from support.peers.sts_peer import StsPeer

from tests.cli.running import CliResult, aws_exchange, run_cli, run_cli_process

pytestmark = pytest.mark.usefixtures("loopback_only")


def _store(
    server: PhaseServer, sts: StsPeer, env: dict[str, str], account_id: str, *extra: str
) -> CliResult:
    return run_cli_process(
        *aws_exchange(server, sts, account_id),
        "--secret",
        "default/phase-service-token",
        *extra,
        env=env,
    )


def test_exchange_writes_the_token_into_a_secret_and_updates_it_in_place(
    phase_server: PhaseServer,
    sts_peer: StsPeer,
    aws_env: dict[str, str],
    kube_api: KubeAPI,
) -> None:
    account, _ = aws_account(phase_server, sts_peer)
    env = {**aws_env, **kube_api.env()}
    first = _store(phase_server, sts_peer, env, account.id, "--ttl", "120")
    assert first.code == 0, first.err
    summary = json.loads(first.out)
    assert summary["secret"] == "default/phase-service-token" and "token" not in summary
    core = kube_api.core_v1()
    secret = core.read_namespaced_secret("phase-service-token", "default")
    token = base64.b64decode(secret.data["token"]).decode()
    assert phase_server.records.find_token(token) is not None
    assert secret.metadata.annotations["externalidentity.dev/expires-at"] == summary["expiresAt"]

    second = _store(phase_server, sts_peer, env, account.id, "--secret-key", "token")
    assert second.code == 0, second.err
    again = core.read_namespaced_secret("phase-service-token", "default")
    assert again.metadata.uid == secret.metadata.uid
    assert base64.b64decode(again.data["token"]).decode() != token


def test_exchange_refuses_to_overwrite_a_secret_it_did_not_write(
    phase_server: PhaseServer,
    sts_peer: StsPeer,
    aws_env: dict[str, str],
    kube_api: KubeAPI,
) -> None:
    account, _ = aws_account(phase_server, sts_peer)
    core = kube_api.core_v1()
    core.create_namespaced_secret(
        "default",
        V1Secret(metadata=V1ObjectMeta(name="phase-service-token"), data={"token": "b3RoZXI="}),
    )
    result = _store(phase_server, sts_peer, {**aws_env, **kube_api.env()}, account.id)
    assert result.code == 6
    assert result.err.startswith("error: Secret default/phase-service-token already exists")
    assert core.read_namespaced_secret("phase-service-token", "default").data == {
        "token": "b3RoZXI="
    }


def test_exchange_without_a_kubeconfig_says_so(
    phase_server: PhaseServer,
    sts_peer: StsPeer,
    aws_env: dict[str, str],
    tmp_path: object,
) -> None:
    account, _ = aws_account(phase_server, sts_peer)
    result = _store(
        phase_server, sts_peer, {**aws_env, "KUBECONFIG": "/nonexistent/kubeconfig"}, account.id
    )
    assert result.code == 2
    assert "cannot load Kubernetes configuration" in result.err
    assert phase_server.records.tokens == [], "no token is minted that cannot be stored"


def test_the_token_goes_under_the_secret_key_asked_for(
    capsys: pytest.CaptureFixture[str],
    phase_server: PhaseServer,
    sts_peer: StsPeer,
    aws_env: dict[str, str],
    kube_api: KubeAPI,
) -> None:
    account, _ = aws_account(phase_server, sts_peer)
    result = run_cli(capsys, *aws_exchange(phase_server, sts_peer, account.id),
                     "--secret", "default/phase-env", "--secret-key", "PHASE_SERVICE_TOKEN",
                     "--kubeconfig", str(kube_api.kubeconfig_path))
    assert result.code == 0, result.err
    data = kube_api.core_v1().read_namespaced_secret("phase-env", "default").data
    assert list(data) == ["PHASE_SERVICE_TOKEN"]
    token = base64.b64decode(data["PHASE_SERVICE_TOKEN"]).decode()
    assert phase_server.records.find_token(token) is not None
