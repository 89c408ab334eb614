"""`external-identity explain -f` for AWS IAM, against moto STS and the Phase peer (over TLS).

Each check is shown failing with its name, what it saw and the fix, and stopping there; and
all of them passing. No cluster is involved: the manifests are files.
"""

from __future__ import annotations

import json
import socket
from pathlib import Path
from typing import Any

import pytest
import trustme
from support.peers.helpers import aws_account
from support.peers.phase_model import ServiceAccount
from support.peers.phase_server import PhaseServer
from support.peers.sts_peer import StsPeer

from tests.cli.conftest import drop_static_aws_credentials
from tests.cli.explain.explaining import (
    CHECK_NAMES,
    TlsFront,
    assert_failed_at,
    binding,
    explain,
    identity,
    lines_of,
    manifest,
    tls_phase_fixture,  # noqa: F401  (the tls_phase fixture)
)

pytestmark = pytest.mark.usefixtures("loopback_only")


def _identity(tls: TlsFront, sts: StsPeer, **spec: object) -> dict[str, object]:
    spec.setdefault("tokenService", {"host": tls.base_url, "caBundle": tls.ca_pem})
    spec.setdefault("aws", {"stsEndpoint": sts.endpoint, "region": "eu-west-1"})
    return identity(**spec)


def _files(
    tmp_path: Path, tls: TlsFront, sts: StsPeer, account: ServiceAccount,
    bound: dict[str, Any] | None = None, **spec: object,
) -> list[str]:
    return ["-f", manifest(tmp_path, _identity(tls, sts, **spec),
                           binding(account.id, **(bound or {})))]


def test_every_check_passes_for_a_working_identity_and_no_token_is_minted(
    capsys: pytest.CaptureFixture[str],
    tmp_path: Path,
    tls_phase: TlsFront,
    phase_server: PhaseServer,
    sts_peer: StsPeer,
    account: ServiceAccount,
) -> None:
    result = explain(capsys, *_files(tmp_path, tls_phase, sts_peer, account,
                                     allowedNamespaces=["team-*", "payments"]))
    assert result.code == 0, result.out + result.err
    report = lines_of(result.out)
    assert tuple(report) == CHECK_NAMES
    assert all(line.startswith("ok") for line in report.values()), result.out
    assert "6 CEL rules hold (2 more apply only to updates)" in report["schema"]
    assert "payments is allowed by allowedNamespaces [team-*, payments]" in report["namespace"]
    assert "environment variables (AWS_ACCESS_KEY_ID) (botocore: env)" in report["credentials"]
    assert sts_peer.assumed_role_arn in report["principal"]
    assert f"trust {sts_peer.trust_pattern()} in the Phase identity" in report["principal"]
    assert f"for {sts_peer.endpoint}" in report["sts-endpoint"]
    assert "as eu-west-1, from spec.aws.region" in report["sts-endpoint"]
    assert "answered HTTP 405 to a GET over TLSv1." in report["token-service"]
    assert "verified with spec.tokenService.caBundle" in report["token-service"]
    assert result.out.rstrip().endswith("12 checks passed")
    assert result.err == ""
    assert phase_server.records.tokens == []


def test_credentials_name_the_web_identity_token_file_that_found_them(
    capsys: pytest.CaptureFixture[str],
    tmp_path: Path,
    tls_phase: TlsFront,
    sts_peer: StsPeer,
    account: ServiceAccount,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    token_file = tmp_path / "token"
    token_file.write_text(sts_peer.web_identity_token())
    drop_static_aws_credentials(monkeypatch)
    for name, value in sts_peer.web_identity_env(token_file).items():
        monkeypatch.setenv(name, value)
    result = explain(capsys, *_files(tmp_path, tls_phase, sts_peer, account))
    assert result.code == 0, result.out + result.err
    line = lines_of(result.out)["credentials"]
    assert "temporary, from the web identity token file (IRSA)" in line
    assert "(botocore: assume-role-with-web-identity)" in line
    assert f"AWS_WEB_IDENTITY_TOKEN_FILE={token_file}" in line


@pytest.mark.parametrize(
    ("spec", "seen"),
    [
        ({"defaultTTL": 7200, "maxTTL": 3600}, "spec: defaultTTL must be less than or equal to"),
        ({"provider": "azure"}, "spec: aws is only allowed when provider is aws-iam; spec: "
         "provider azure requires azure.tenantId"),
        ({"aws": {"region": "EU-West"}}, "spec.aws.region: Invalid value: does not match"),
        ({"tokenName": ""}, "spec.tokenName: Invalid value: at least 1 characters"),
        ({"region": "eu-west-1"}, "spec.region: unknown field"),
    ],
    ids=["CEL TTL rule", "CEL provider rule", "pattern", "minLength", "unknown field"],
)
def test_schema_failure_names_the_field_and_the_rule(
    capsys: pytest.CaptureFixture[str],
    tmp_path: Path,
    tls_phase: TlsFront,
    sts_peer: StsPeer,
    account: ServiceAccount,
    spec: dict[str, object],
    seen: str,
) -> None:
    result = explain(capsys, *_files(tmp_path, tls_phase, sts_peer, account, **spec))
    failure = assert_failed_at(result, "schema", 2, "ExternalIdentity prod-aws: ", seen)
    assert "kubectl explain externalidentities.spec" in failure


def test_binding_schema_failure_names_its_cel_rule(
    capsys: pytest.CaptureFixture[str],
    tmp_path: Path,
    tls_phase: TlsFront,
    sts_peer: StsPeer,
    account: ServiceAccount,
) -> None:
    secret = {"name": "s", "format": "PhaseEnv", "keys": {"host": "PHASE_HOST"}}
    path = manifest(tmp_path, _identity(tls_phase, sts_peer), binding(account.id, secret=secret))
    result = explain(capsys, "-f", path)
    assert_failed_at(result, "schema", 2, "ServiceAccountBinding payments-api: spec.secret: with "
                     "format PhaseEnv, secret.keys must not use PHASE_SERVICE_TOKEN or PHASE_HOST")


def test_a_namespace_the_identity_does_not_allow_fails_as_the_operator_refuses_it(
    capsys: pytest.CaptureFixture[str],
    tmp_path: Path,
    tls_phase: TlsFront,
    sts_peer: StsPeer,
    account: ServiceAccount,
) -> None:
    result = explain(capsys, *_files(tmp_path, tls_phase, sts_peer, account,
                                     allowedNamespaces=["team-*"]))
    failure = assert_failed_at(
        result, "namespace", 2,
        "NamespaceNotAllowed: ExternalIdentity 'prod-aws' does not allow namespace 'payments'; "
        "ask an admin to add it to spec.allowedNamespaces",
    )
    assert "credentials" not in lines_of(result.out)
    assert failure


def test_no_credentials_fail_the_credentials_check(
    capsys: pytest.CaptureFixture[str],
    tmp_path: Path,
    tls_phase: TlsFront,
    sts_peer: StsPeer,
    account: ServiceAccount,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    drop_static_aws_credentials(monkeypatch)
    result = explain(capsys, *_files(tmp_path, tls_phase, sts_peer, account))
    assert_failed_at(result, "credentials", 3, "no AWS credentials found",
                     "fix: give the operator's pod AWS credentials: IRSA", "kubectl exec")


def test_credentials_sts_refuses_fail_the_principal_check(
    capsys: pytest.CaptureFixture[str],
    tmp_path: Path,
    tls_phase: TlsFront,
    sts_peer: StsPeer,
    account: ServiceAccount,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "not-the-secret-of-this-key-0123456789")
    result = explain(capsys, *_files(tmp_path, tls_phase, sts_peer, account))
    assert_failed_at(result, "principal", 3, f"GetCallerIdentity at {sts_peer.endpoint} failed",
                     "ClientError", "check that the credentials are current")
    assert "not-the-secret" not in result.out + result.err


def test_a_region_that_contradicts_the_sts_endpoint_fails_the_sts_check(
    capsys: pytest.CaptureFixture[str],
    tmp_path: Path,
    tls_phase: TlsFront,
    sts_peer: StsPeer,
    account: ServiceAccount,
) -> None:
    # With per-workload credentials the principal is not looked up, so no AWS host is called.
    aws = {"region": "eu-west-1", "stsEndpoint": "https://sts.us-east-2.amazonaws.com"}
    result = explain(capsys, *_files(tmp_path, tls_phase, sts_peer, account, aws=aws,
                                     credentials={"source": "ServiceAccount"},
                                     bound={"serviceAccountName": "payments"}))
    assert_failed_at(
        result, "sts-endpoint", 2,
        "spec.aws.region eu-west-1 but spec.aws.stsEndpoint https://sts.us-east-2.amazonaws.com "
        "is in us-east-2",
        "remove spec.aws.region or set it to us-east-2",
    )


def test_a_token_service_certificate_from_another_ca_fails_the_tls_check(
    capsys: pytest.CaptureFixture[str],
    tmp_path: Path,
    tls_phase: TlsFront,
    sts_peer: StsPeer,
    account: ServiceAccount,
) -> None:
    other_ca = trustme.CA().cert_pem.bytes().decode()
    service = {"host": tls_phase.base_url, "caBundle": other_ca}
    result = explain(capsys, *_files(tmp_path, tls_phase, sts_peer, account, tokenService=service))
    assert_failed_at(result, "token-service", 5, f"TLS handshake with {tls_phase.base_url}",
                     "CERTIFICATE_VERIFY_FAILED", "set spec.tokenService.caBundle to the PEM")


def test_a_wrong_path_prefix_fails_the_token_service_check(
    capsys: pytest.CaptureFixture[str],
    tmp_path: Path,
    tls_phase: TlsFront,
    sts_peer: StsPeer,
    account: ServiceAccount,
) -> None:
    service = {"host": tls_phase.base_url, "caBundle": tls_phase.ca_pem, "pathPrefix": "/api"}
    result = explain(capsys, *_files(tmp_path, tls_phase, sts_peer, account, tokenService=service))
    assert_failed_at(result, "token-service", 2, "/api/identities/external/v1/aws/iam/auth/ "
                     "answered 404", "check spec.tokenService.pathPrefix")


def test_an_unreachable_token_service_fails_the_token_service_check(
    capsys: pytest.CaptureFixture[str],
    tmp_path: Path,
    tls_phase: TlsFront,
    sts_peer: StsPeer,
    account: ServiceAccount,
) -> None:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        host = f"https://127.0.0.1:{probe.getsockname()[1]}"
    result = explain(capsys, *_files(tmp_path, tls_phase, sts_peer, account,
                                     tokenService={"host": host}))
    assert_failed_at(result, "token-service", 5, f"cannot reach {host}",
                     "check spec.tokenService.host")


def test_exchange_prints_the_token_as_exchange_no_store_does(
    capsys: pytest.CaptureFixture[str],
    tmp_path: Path,
    tls_phase: TlsFront,
    phase_server: PhaseServer,
    sts_peer: StsPeer,
    account: ServiceAccount,
) -> None:
    path = manifest(tmp_path, _identity(tls_phase, sts_peer),
                    binding(account.id, ttl=900))
    result = explain(capsys, "-f", path, "--exchange")
    assert result.code == 0, result.out + result.err
    document = json.loads(result.out)
    issued = phase_server.records.find_token(document["token"])
    assert issued is not None and document["bearerToken"] == issued.bearer_token
    assert document["ttl"] == 900 and document["principal"] == sts_peer.assumed_role_arn
    report = lines_of(result.err)
    assert report["exchange"].startswith("ok")
    assert f"token issued for service account {account.id}: TTL 900s" in report["exchange"]
    assert document["token"] not in result.err
    assert result.err.rstrip().endswith("13 checks passed")


def test_exchange_refused_for_an_untrusted_principal_says_what_to_trust(
    capsys: pytest.CaptureFixture[str],
    tmp_path: Path,
    tls_phase: TlsFront,
    phase_server: PhaseServer,
    sts_peer: StsPeer,
    aws_env: dict[str, str],
) -> None:
    untrusted, _ = aws_account(phase_server, sts_peer,
                               trusted_principals=["arn:aws:iam::000000000000:role/other"])
    path = manifest(tmp_path, _identity(tls_phase, sts_peer), binding(untrusted.id))
    result = explain(capsys, "-f", path, "--exchange")
    assert result.code == 4, result.err
    report = lines_of(result.err)
    assert list(report)[-1] == "exchange" and report["exchange"].startswith("FAILED")
    assert "cloud principal is not trusted" in report["exchange"]
    assert f"fix: trust {sts_peer.assumed_role_arn} in the Phase identity" in report["exchange"]
    assert result.out == ""


def test_exchange_without_a_binding_is_a_usage_error(
    capsys: pytest.CaptureFixture[str],
    tmp_path: Path,
    tls_phase: TlsFront,
    sts_peer: StsPeer,
    aws_env: dict[str, str],
) -> None:
    result = explain(capsys, "-f", manifest(tmp_path, _identity(tls_phase, sts_peer)), "--exchange")
    assert result.code == 2
    assert result.err.startswith("error: --exchange needs a ServiceAccountBinding")


def test_help_documents_every_flag_and_check(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit):
        explain(capsys, "--help")
    text = capsys.readouterr().out
    for word in ("--filename", "--identity", "--binding", "--namespace", "--exchange",
                 "--kubeconfig", "--context", "schema", "namespace", "credentials", "principal",
                 "sts-endpoint", "token-service", "exit status"):
        assert word in text
