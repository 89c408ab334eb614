"""AwsIamProvider against the moto STS peer: what it signs, and the principal it reports."""

from __future__ import annotations

import pytest
from support.peers.phase_server import PhaseServer
from support.peers.sts_peer import StsPeer

from external_identity.exchange.client import (
    TokenServiceClient,
    TokenServiceEndpoint,
    build_http_client,
)
from external_identity.exchange.providers.aws import AwsIamProvider
from tests.exchange.providers.signed import SignedCall

pytestmark = pytest.mark.usefixtures("loopback_only")


class FakeMonotonic:
    def __init__(self, start: float = 1000.0) -> None:
        self.now = start

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds


def _ambient_region(monkeypatch: pytest.MonkeyPatch, region: str) -> None:
    """What IRSA / Pod Identity put into every pod."""
    monkeypatch.setenv("AWS_REGION", region)
    monkeypatch.setenv("AWS_DEFAULT_REGION", region)


# -- the signed request --------------------------------------------------------------------------


async def test_the_signed_request_is_accepted_by_sts_as_the_callers_own(
    sts_peer: StsPeer, aws_env: dict[str, str]
) -> None:
    provider = AwsIamProvider(sts_endpoint=sts_peer.endpoint)
    call = SignedCall.of(await provider.proof())
    assert (call.method, call.url) == ("POST", sts_peer.endpoint)
    assert call.body == "Action=GetCallerIdentity&Version=2011-06-15"
    assert call.headers["Host"] == sts_peer.host
    assert call.headers["X-Amz-Security-Token"] == sts_peer.session_token
    response = call.send()
    assert response.status_code == 200, response.text
    assert f"<Arn>{sts_peer.assumed_role_arn}</Arn>" in response.text


async def test_every_proof_is_signed_afresh(sts_peer: StsPeer, aws_env: dict[str, str]) -> None:
    provider = AwsIamProvider(sts_endpoint=sts_peer.endpoint)
    first, second = SignedCall.of(await provider.proof()), SignedCall.of(await provider.proof())
    assert first.send().status_code == 200 and second.send().status_code == 200


async def test_an_explicit_region_signs_for_a_host_that_names_none(
    sts_peer: StsPeer, aws_env: dict[str, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    _ambient_region(monkeypatch, "ap-southeast-2")
    sts_peer.faults.require_signing_region("eu-west-1")
    provider = AwsIamProvider(region="eu-west-1", sts_endpoint=sts_peer.endpoint)
    proof = await provider.proof()
    call = SignedCall.of(proof)
    assert call.signing_region == "eu-west-1"
    assert call.send().status_code == 200
    assert proof.principal == sts_peer.assumed_role_arn, "the lookup signs for eu-west-1 too"


async def test_a_peer_that_requires_another_region_refuses_the_signature(
    sts_peer: StsPeer, aws_env: dict[str, str]
) -> None:
    """The check the previous test relies on really bites."""
    sts_peer.faults.require_signing_region("eu-west-1")
    provider = AwsIamProvider(region="us-west-2", sts_endpoint=sts_peer.endpoint)
    response = SignedCall.of(await provider.proof()).send()
    assert response.status_code == 403
    assert "SignatureDoesNotMatch" in response.text


async def test_without_an_explicit_region_the_pods_region_signs_for_a_host_that_names_none(
    sts_peer: StsPeer, aws_env: dict[str, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    _ambient_region(monkeypatch, "ap-southeast-2")
    provider = AwsIamProvider(sts_endpoint=sts_peer.endpoint)
    assert SignedCall.of(await provider.proof()).signing_region == "ap-southeast-2"


def test_the_pods_region_does_not_move_the_default_endpoint(
    aws_env: dict[str, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    _ambient_region(monkeypatch, "eu-west-1")
    provider = AwsIamProvider()
    assert (provider.target.endpoint, provider.target.region) == (
        "https://sts.amazonaws.com",
        "us-east-1",
    )


def test_a_regional_endpoint_is_signed_with_its_own_region_whatever_the_pods(
    aws_env: dict[str, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    _ambient_region(monkeypatch, "us-west-2")
    provider = AwsIamProvider(sts_endpoint="https://sts.eu-west-1.amazonaws.com")
    assert provider.target.region == "eu-west-1"


# -- the principal ---------------------------------------------------------------------------------


async def test_the_principal_is_the_callers_arn_looked_up_once(
    sts_peer: StsPeer, aws_env: dict[str, str]
) -> None:
    provider = AwsIamProvider(sts_endpoint=sts_peer.endpoint)
    principals = [(await provider.proof()).principal for _ in range(3)]
    assert principals == [sts_peer.assumed_role_arn] * 3
    assert len(sts_peer.faults.calls_of("GetCallerIdentity")) == 1


async def test_a_failed_principal_lookup_is_retried_on_a_later_proof(
    sts_peer: StsPeer, aws_env: dict[str, str]
) -> None:
    clock = FakeMonotonic()
    provider = AwsIamProvider(
        sts_endpoint=sts_peer.endpoint, principal_retry_interval=30, monotonic=clock
    )
    sts_peer.faults.fail_next(1, code="Throttling", status=400)
    assert (await provider.proof()).principal is None
    clock.advance(29)
    assert (await provider.proof()).principal is None, "not retried before the interval"
    assert len(sts_peer.faults.calls_of("GetCallerIdentity")) == 1
    clock.advance(1)
    assert (await provider.proof()).principal == sts_peer.assumed_role_arn
    clock.advance(3600)
    assert (await provider.proof()).principal == sts_peer.assumed_role_arn
    assert len(sts_peer.faults.calls_of("GetCallerIdentity")) == 2, "kept once known"


async def test_a_failed_lookup_is_made_once_without_botocore_retries(
    sts_peer: StsPeer, aws_env: dict[str, str]
) -> None:
    sts_peer.faults.fail_next(5, code="InternalFailure", status=500)
    provider = AwsIamProvider(sts_endpoint=sts_peer.endpoint)
    assert (await provider.proof()).principal is None
    assert [c.injected for c in sts_peer.faults.calls_of("GetCallerIdentity")] == [
        "InternalFailure"
    ]


async def test_the_principal_appears_on_tokens_once_sts_answers(
    phase_server: PhaseServer, sts_peer: StsPeer, aws_env: dict[str, str]
) -> None:
    account = phase_server.add_service_account()
    phase_server.add_aws_identity(
        account, sts_endpoint=sts_peer.endpoint, trusted_principals=[sts_peer.trust_pattern()]
    )
    clock = FakeMonotonic()
    provider = AwsIamProvider(
        sts_endpoint=sts_peer.endpoint, principal_retry_interval=5, monotonic=clock
    )
    sts_peer.faults.fail_next(1, code="AccessDenied")
    async with build_http_client() as http:
        client = TokenServiceClient(TokenServiceEndpoint(host=phase_server.base_url), http=http)
        first = await client.exchange(provider, service_account_id=account.id)
        clock.advance(5)
        second = await client.exchange(provider, service_account_id=account.id)
    assert first.principal is None
    assert second.principal == sts_peer.assumed_role_arn
    assert [t.principal for t in phase_server.records.tokens] == [sts_peer.assumed_role_arn] * 2
