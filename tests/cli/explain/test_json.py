"""`explain -o json`: the same findings, verdicts and exit codes as the text report, as one JSON
document, against moto STS and the Phase peer (over TLS); no cluster is involved."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from support.peers.helpers import aws_account
from support.peers.phase_model import ServiceAccount
from support.peers.phase_server import PhaseServer
from support.peers.sts_peer import StsPeer

from tests.cli.explain.explaining import (
    CHECK_NAMES,
    TlsFront,
    binding,
    explain,
    identity,
    lines_of,
    manifest,
    tls_phase_fixture,  # noqa: F401  (the tls_phase fixture)
)

pytestmark = pytest.mark.usefixtures("loopback_only")

FINDING_KEYS = {"check", "verdict", "seen", "fix"}


def _files(
    tmp_path: Path, tls: TlsFront, sts: StsPeer, account_id: str, **spec: Any
) -> list[str]:
    spec.setdefault("tokenService", {"host": tls.base_url, "caBundle": tls.ca_pem})
    spec.setdefault("aws", {"stsEndpoint": sts.endpoint, "region": "eu-west-1"})
    return ["-f", manifest(tmp_path, identity(**spec), binding(account_id))]


def _leading_document(text: str) -> tuple[dict[str, Any], str]:
    """The JSON document ``text`` starts with, and what follows it."""
    document, end = json.JSONDecoder().raw_decode(text)
    return document, text[end:]


def test_every_finding_is_in_the_document_and_matches_the_text_report(
    capsys: pytest.CaptureFixture[str], tmp_path: Path, tls_phase: TlsFront,
    sts_peer: StsPeer, account: ServiceAccount,
) -> None:
    files = _files(tmp_path, tls_phase, sts_peer, account.id)
    result = explain(capsys, *files, "-o", "json")
    assert result.code == 0, result.out + result.err
    assert result.err == ""
    document = json.loads(result.out)
    assert document["identity"] == "prod-aws"
    assert document["binding"] == "payments/payments-api"
    assert (document["result"], document["stoppedAt"]) == ("passed", None)
    assert (document["passed"], document["notChecked"]) == (len(CHECK_NAMES), 0)
    findings = document["findings"]
    assert [finding["check"] for finding in findings] == list(CHECK_NAMES)
    assert all(set(finding) == FINDING_KEYS for finding in findings)
    assert all(finding["verdict"] == "ok" and finding["fix"] is None for finding in findings)

    text = lines_of(explain(capsys, *files).out)
    for finding in findings:
        assert finding["seen"] in text[finding["check"]]


def test_a_failure_is_the_last_finding_with_its_fix_and_the_same_exit_code(
    capsys: pytest.CaptureFixture[str], tmp_path: Path, tls_phase: TlsFront,
    sts_peer: StsPeer, account: ServiceAccount,
) -> None:
    files = _files(tmp_path, tls_phase, sts_peer, account.id, allowedNamespaces=["billing"])
    result = explain(capsys, *files, "--output", "json")
    text = explain(capsys, *files)
    assert result.code == text.code == 2
    assert result.err == text.err and result.err.startswith("error: NamespaceNotAllowed")
    document = json.loads(result.out)
    assert (document["result"], document["stoppedAt"]) == ("failed", "namespace")
    last = document["findings"][-1]
    assert (last["check"], last["verdict"]) == ("namespace", "failed")
    assert "NamespaceNotAllowed" in last["seen"]
    assert last["fix"] and last["fix"] in lines_of(text.out)["namespace"]
    assert document["passed"] == len(document["findings"]) - 1


def test_with_exchange_the_token_is_on_stdout_and_never_in_the_document(
    capsys: pytest.CaptureFixture[str], tmp_path: Path, tls_phase: TlsFront,
    phase_server: PhaseServer, sts_peer: StsPeer, account: ServiceAccount,
) -> None:
    result = explain(capsys, *_files(tmp_path, tls_phase, sts_peer, account.id), "--exchange",
                     "-o", "json")
    assert result.code == 0, result.out + result.err
    issued = json.loads(result.out)
    token = phase_server.records.find_token(issued["token"])
    assert token is not None, "stdout holds the token, as `exchange --no-store` prints it"
    report = json.loads(result.err)
    assert report["findings"][-1]["check"] == "exchange"
    assert report["findings"][-1]["verdict"] == "ok"
    for secret in (token.token, token.bearer_token, token.token_value):
        assert secret not in result.err


def test_a_refused_exchange_reports_on_stderr_then_the_error(
    capsys: pytest.CaptureFixture[str], tmp_path: Path, tls_phase: TlsFront,
    phase_server: PhaseServer, sts_peer: StsPeer, aws_env: dict[str, str],
) -> None:
    untrusted, _ = aws_account(phase_server, sts_peer,
                               trusted_principals=["arn:aws:iam::000000000000:role/other"])
    result = explain(capsys, *_files(tmp_path, tls_phase, sts_peer, untrusted.id),
                     "--exchange", "-o", "json")
    assert result.code == 4, result.err
    assert result.out == ""
    report, rest = _leading_document(result.err)
    assert (report["result"], report["stoppedAt"]) == ("failed", "exchange")
    assert sts_peer.assumed_role_arn in report["findings"][-1]["fix"]
    assert rest.strip().startswith("error: ")


def test_the_output_flag_takes_text_or_json_only(
    capsys: pytest.CaptureFixture[str], tmp_path: Path, tls_phase: TlsFront,
    sts_peer: StsPeer, account: ServiceAccount,
) -> None:
    files = _files(tmp_path, tls_phase, sts_peer, account.id)
    assert explain(capsys, *files, "-o", "text").out == explain(capsys, *files).out
    with pytest.raises(SystemExit) as exit_info:
        explain(capsys, *files, "-o", "yaml")
    assert exit_info.value.code == 2
    assert "invalid choice: 'yaml'" in capsys.readouterr().err
