"""Manifests aimed at the peers, and a TLS front for the Phase peer, for the `explain` tests."""

from __future__ import annotations

import ssl
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import trustme
import yaml
from support.peers._http import LoopbackServer
from support.peers.phase_server import PhaseServer, _PhaseHandler

from external_identity.controller.decide.checks import CHAIN
from tests.cli.running import CliResult, run_cli

API_VERSION = "externalidentity.dev/v1alpha1"
#: explain's checks: the CRD schema, the operator's own decision chain, then the network.
CHECK_NAMES = ("schema", *(check.name for check in CHAIN), "credentials", "principal",
               "sts-endpoint", "token-service")


@dataclass(frozen=True)
class TlsFront:
    """The Phase peer behind https, with a certificate from its own throwaway CA."""

    base_url: str
    ca_pem: str


@pytest.fixture(scope="session", name="tls_phase")
def tls_phase_fixture(phase_server_session: PhaseServer) -> Iterator[TlsFront]:
    """The same Phase peer (same accounts, records and faults) served over TLS as well."""
    ca = trustme.CA()
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    ca.issue_cert("127.0.0.1", "localhost").configure_cert(context)
    server = LoopbackServer(_PhaseHandler, owner=phase_server_session, ssl_context=context)
    server.start()
    yield TlsFront(base_url=server.base_url, ca_pem=ca.cert_pem.bytes().decode())
    server.stop()


def identity(name: str = "prod-aws", **spec: Any) -> dict[str, Any]:
    return {
        "apiVersion": API_VERSION,
        "kind": "ExternalIdentity",
        "metadata": {"name": name},
        "spec": {"provider": "aws-iam", "serviceAccounts": [{"id": "*"}], **spec},
    }


def binding(
    account_id: str, *, identity_name: str = "prod-aws", namespace: str = "payments", **spec: Any
) -> dict[str, Any]:
    return {
        "apiVersion": API_VERSION,
        "kind": "ServiceAccountBinding",
        "metadata": {"name": "payments-api", "namespace": namespace},
        "spec": {
            "externalIdentityRef": {"name": identity_name},
            "serviceAccountId": account_id,
            "secret": {"name": "phase-service-token"},
            **spec,
        },
    }


def manifest(tmp_path: Path, *documents: dict[str, Any], name: str = "explain.yaml") -> str:
    path = tmp_path / name
    path.write_text(yaml.safe_dump_all(documents, sort_keys=False))
    return str(path)


def explain(capsys: pytest.CaptureFixture[str], *args: str) -> CliResult:
    return run_cli(capsys, "explain", *args)


def lines_of(report: str) -> dict[str, str]:
    """Each check's report line(s), by check name: verdict, what was seen, the fix."""
    found: dict[str, str] = {}
    current = None
    for line in report.splitlines():
        words = line.split()
        if len(words) >= 2 and words[0] in ("ok", "FAILED", "n/a") and words[1] in (
            *CHECK_NAMES, "exchange"
        ):
            current = words[1]
            found[current] = line
        elif line.startswith("not checked"):
            current = words[2]
            found[current] = line
        elif current is not None and line.startswith(" "):
            found[current] += "\n" + line
    return found


def assert_failed_at(result: CliResult, check: str, code: int, *seen: str) -> str:
    """The report stops at ``check``, saying what it saw and the fix; exit code as `exchange`."""
    assert result.code == code, (result.out, result.err)
    report = lines_of(result.out)
    assert list(report)[-1] == check, result.out
    failure = report[check]
    assert failure.startswith("FAILED"), failure
    for text in seen:
        assert text in failure, failure
    assert "fix: " in failure
    assert f"stopped at {check}" in result.out
    assert result.err.startswith("error: ")
    return failure
