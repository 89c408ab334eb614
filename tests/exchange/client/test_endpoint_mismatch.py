"""An STS endpoint mismatch names the endpoint the token service expects and the field to set."""

from __future__ import annotations

import pytest
from support.peers.helpers import aws_account
from support.peers.phase_server import PhaseServer
from support.peers.sts_peer import StsPeer

from external_identity.errors import EndpointMismatch
from external_identity.exchange.client import TokenServiceClient
from external_identity.exchange.providers.aws import AwsIamProvider
from tests.exchange.client.conftest import ACCOUNT_ID, FixedProof

pytestmark = pytest.mark.usefixtures("loopback_only")

MISMATCH = "STS endpoint mismatch. Please sign the request for the configured STS endpoint."
FIX = "set spec.aws.stsEndpoint (or --sts-endpoint) to it"


async def _mismatch(client: TokenServiceClient) -> EndpointMismatch:
    with pytest.raises(EndpointMismatch) as raised:
        await client.exchange(FixedProof(), service_account_id=ACCOUNT_ID)
    return raised.value


async def test_signing_for_another_host_names_the_endpoint_the_identity_expects(
    phase_server: PhaseServer,
    sts_peer: StsPeer,
    aws_env: dict[str, str],
    client: TokenServiceClient,
) -> None:
    port = sts_peer.endpoint.rsplit(":", 1)[1]
    account, identity = aws_account(phase_server, sts_peer)
    identity.sts_endpoint = f"http://localhost:{port}"
    provider = AwsIamProvider(sts_endpoint=sts_peer.endpoint)
    with pytest.raises(EndpointMismatch) as raised:
        await client.exchange(provider, service_account_id=account.id)
    error = raised.value
    assert error.expected_endpoint == f"http://localhost:{port}"
    assert str(error).endswith(
        f"the token service expects http://localhost:{port}; {FIX}"
    )
    assert str(error).startswith("STS endpoint does not match the identity's configured endpoint")
    assert error.principal == sts_peer.assumed_role_arn


async def test_the_expected_endpoint_is_read_from_the_json_body(
    phase_server: PhaseServer, client: TokenServiceClient
) -> None:
    phase_server.fail(
        status=400,
        body={
            "error": MISMATCH,
            "expectedEndpoint": "https://sts.eu-west-1.amazonaws.com",
            "receivedEndpoint": "https://sts.amazonaws.com",
        },
    )
    error = await _mismatch(client)
    assert error.expected_endpoint == "https://sts.eu-west-1.amazonaws.com"
    assert str(error) == (
        "STS endpoint does not match the identity's configured endpoint: HTTP 400: "
        "STS endpoint mismatch. Please sign the request for the configured STS endpoint; "
        f"the token service expects https://sts.eu-west-1.amazonaws.com; {FIX}"
    )


@pytest.mark.parametrize(
    "body",
    [
        {"error": MISMATCH},
        {"error": MISMATCH, "expectedEndpoint": None},
        {"error": MISMATCH, "expectedEndpoint": 443},
        {"error": MISMATCH, "expectedEndpoint": ["https://sts.amazonaws.com"]},
        {"error": MISMATCH, "expectedEndpoint": "   "},
    ],
)
async def test_without_a_usable_expected_endpoint_the_message_still_names_the_field(
    phase_server: PhaseServer, client: TokenServiceClient, body: dict[str, object]
) -> None:
    phase_server.fail(status=400, body=body)
    error = await _mismatch(client)
    assert error.expected_endpoint is None
    assert "the token service expects" not in str(error)
    assert str(error).endswith(
        "set spec.aws.stsEndpoint (or --sts-endpoint) to the STS endpoint the external "
        "identity is configured with"
    )


async def test_a_hostile_expected_endpoint_is_redacted_truncated_and_kept_on_one_line(
    phase_server: PhaseServer, client: TokenServiceClient
) -> None:
    leaked = "pss_service:v2:" + "ab" * 32
    phase_server.fail(
        status=400,
        body={"error": MISMATCH, "expectedEndpoint": f"https://x\n{leaked}\r\n" + "z" * 5000},
    )
    error = await _mismatch(client)
    assert error.expected_endpoint is not None
    assert leaked not in error.expected_endpoint and "[redacted]" in error.expected_endpoint
    assert len(error.expected_endpoint) <= 201
    assert leaked not in str(error) and "\n" not in str(error) and "\r" not in str(error)
