"""One exchange for the ``exchange`` command, called directly: the ``--no-store`` document, and
the token printed or written into a CLI-owned Secret (the Phase and STS peers, and the Kubernetes
API emulator). The command's flags and failures are in tests/cli/exchange/."""

from __future__ import annotations

import base64
import io
import json
from datetime import UTC, datetime

import pytest
from support.kube.fixtures import KubeAPI
from support.peers.phase_model import ServiceAccount
from support.peers.phase_server import PhaseServer
from support.peers.sts_peer import StsPeer

from external_identity.cli.oneshot import (
    CLI_OWNER_KEY,
    ExchangeRequest,
    no_store_document,
    run_exchange,
)
from external_identity.exchange.providers.settings import ProviderSettings
from external_identity.exchange.tokens import IssuedToken, TokenServiceEndpoint
from external_identity.secrets.data import (
    IDENTITY_ANNOTATION,
    OWNER_ANNOTATION,
    SecretKeys,
)

pytestmark = pytest.mark.usefixtures("loopback_only")


def request(phase: PhaseServer, sts: StsPeer, account: ServiceAccount, *,
            secret: tuple[str, str] | None = None, kubeconfig: str | None = None,
            keys: SecretKeys | None = None) -> ExchangeRequest:
    return ExchangeRequest(
        provider=ProviderSettings(provider="aws-iam", aws_sts_endpoint=sts.endpoint),
        endpoint=TokenServiceEndpoint(host=phase.base_url), service_account_id=account.id,
        ttl=600, ca_bundle=None, timeout=10, secret=secret, secret_keys=keys or SecretKeys(),
        kubeconfig=kubeconfig,
    )


def test_the_no_store_document_holds_the_token_its_bearer_form_and_the_metadata() -> None:
    token = IssuedToken(token="pss_service:v2:abc", bearer_token="ServiceAccount abc",
                        token_type="ServiceAccount", ttl=600, max_ttl=3600,
                        issued_at=datetime(2026, 3, 1, 12, 0, tzinfo=UTC),
                        host="https://phase.example.com", principal="arn:aws:iam::1:role/r")
    text = no_store_document(token)
    assert text.endswith("}\n")
    assert json.loads(text) == {
        "token": "pss_service:v2:abc", "bearerToken": "ServiceAccount abc",
        "tokenType": "ServiceAccount", "ttl": 600, "maxTTL": 3600,
        "issuedAt": "2026-03-01T12:00:00Z", "expiresAt": "2026-03-01T12:10:00Z",
        "host": "https://phase.example.com", "principal": "arn:aws:iam::1:role/r",
    }


async def test_without_a_secret_the_issued_token_is_printed(
    phase_server: PhaseServer, sts_peer: StsPeer, account: ServiceAccount
) -> None:
    out = io.StringIO()
    await run_exchange(request(phase_server, sts_peer, account), out=out)
    document = json.loads(out.getvalue())
    issued = phase_server.records.find_token(document["token"])
    assert issued is not None
    assert document["ttl"] == 600
    assert document["principal"] == sts_peer.assumed_role_arn


async def test_with_a_secret_the_token_is_stored_as_the_clis_and_only_metadata_is_printed(
    phase_server: PhaseServer, sts_peer: StsPeer, account: ServiceAccount, kube_api: KubeAPI
) -> None:
    out = io.StringIO()
    await run_exchange(request(phase_server, sts_peer, account, secret=("default", "phase"),
                               kubeconfig=str(kube_api.kubeconfig_path),
                               keys=SecretKeys(token="PHASE_SERVICE_TOKEN")), out=out)

    summary = json.loads(out.getvalue())
    assert summary["secret"] == "default/phase"
    assert "token" not in summary and "bearerToken" not in summary
    stored = kube_api.get("v1/secrets", "default", "phase")
    assert stored is not None
    token = base64.b64decode(stored["data"]["PHASE_SERVICE_TOKEN"]).decode()
    assert phase_server.records.find_token(token) is not None
    annotations = stored["metadata"]["annotations"]
    assert annotations[OWNER_ANNOTATION] == CLI_OWNER_KEY
    assert annotations[IDENTITY_ANNOTATION] == "cli/aws-iam"
    assert "ownerReferences" not in stored["metadata"]
