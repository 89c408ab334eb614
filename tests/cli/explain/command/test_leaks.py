"""No secret material in what `explain` prints or logs (a real process at DEBUG verbosity).

Without --exchange nothing secret may appear anywhere; with it, the token appears only where
`exchange --no-store` puts it: the JSON document on stdout.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from support.peers.entra_peer import EntraPeer
from support.peers.phase_server import PhaseServer
from support.peers.sts_peer import StsPeer

from tests.cli.explain.explaining import binding, identity, manifest
from tests.cli.running import CliResult, run_cli_process

pytestmark = pytest.mark.usefixtures("loopback_only")


def _assert_absent(text: str, secrets: list[str]) -> None:
    for secret in secrets:
        assert secret and secret not in text, "secret material leaked"
    assert "eyJ" not in text, "something JWT-shaped leaked"
    assert "pss_service:" not in text


def _explain(path: str, env: dict[str, str], *extra: str) -> CliResult:
    return run_cli_process("--log-level", "DEBUG", "explain", "-f", path, *extra, env=env)


def _issued(server: PhaseServer) -> list[str]:
    return [value for token in server.records.tokens
            for value in (token.token, token.bearer_token, token.token_value)]


def test_aws_explain_with_irsa_prints_no_credentials_and_the_token_only_in_the_document(
    tmp_path: Path, phase_server: PhaseServer, sts_peer: StsPeer, aws_env: dict[str, str]
) -> None:
    account = phase_server.add_service_account()
    phase_server.add_aws_identity(account, sts_endpoint=sts_peer.endpoint,
                                  trusted_principals=[sts_peer.trust_pattern()])
    web_token = sts_peer.web_identity_token()
    token_file = tmp_path / "token"
    token_file.write_text(web_token)
    env = {name: value for name, value in aws_env.items()
           if name not in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN")}
    env.update(sts_peer.web_identity_env(token_file))
    path = manifest(tmp_path, identity(tokenService={"host": phase_server.base_url},
                                       aws={"stsEndpoint": sts_peer.endpoint}),
                    binding(account.id))
    cloud = [web_token, sts_peer.secret_access_key, *(
        [sts_peer.session_token] if sts_peer.session_token else [])]

    checked = _explain(path, env)
    assert checked.code == 0, checked.err
    _assert_absent(checked.out + checked.err, cloud)

    exchanged = _explain(path, env, "--exchange")
    assert exchanged.code == 0, exchanged.err
    document = json.loads(exchanged.out)
    issued = _issued(phase_server)
    assert document["token"] in issued  # --exchange prints it, by request, as --no-store does
    _assert_absent(exchanged.err, [*cloud, *issued])
    _assert_absent(json.dumps({k: v for k, v in document.items()
                               if k not in ("token", "bearerToken")}), [*cloud, *issued])


def test_azure_explain_prints_neither_the_federated_token_nor_the_entra_token(
    tmp_path: Path,
    phase_server: PhaseServer,
    entra_peer: EntraPeer,
    entra_env: dict[str, str],
) -> None:
    account = phase_server.add_service_account()
    phase_server.add_azure_identity(account, tenant_id=entra_peer.tenant_id,
                                    allowed_service_principals=[entra_peer.oid])
    azure = {"tenantId": entra_peer.tenant_id, "authorityHost": entra_peer.authority_host}
    path = manifest(tmp_path, identity("prod-azure", provider="azure", azure=azure,
                                       tokenService={"host": phase_server.base_url}),
                    binding(account.id, identity_name="prod-azure"))
    federated = Path(entra_env["AZURE_FEDERATED_TOKEN_FILE"]).read_text().strip()
    result = _explain(path, entra_env, "--exchange")
    assert result.code == 0, result.err
    _assert_absent(result.err, [federated, *_issued(phase_server)])
    assert json.loads(result.out)["principal"] == entra_peer.oid
