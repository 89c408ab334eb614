"""The STS peer checks AssumeRoleWithWebIdentity as STS does before moto issues credentials."""

from __future__ import annotations

import time
from typing import Any

import boto3
import pytest
from botocore import UNSIGNED
from botocore.config import Config
from botocore.exceptions import ClientError
from cryptography.hazmat.primitives.asymmetric import rsa
from support.kube.server import KubeAPI
from support.kube.tokens import TokenSigner
from support.peers.sts_peer import StsPeer

pytestmark = pytest.mark.usefixtures("loopback_only")

NAMESPACE, ACCOUNT = "team-a", "api"


@pytest.fixture
def role(sts_peer: StsPeer, kube_api: KubeAPI) -> str:
    kube_api.ensure_namespace(NAMESPACE)
    core = kube_api.core_v1()
    for name in (ACCOUNT, "other"):
        core.create_namespaced_service_account(NAMESPACE, {"metadata": {"name": name}})
    sts_peer.web_identity.clear()
    return sts_peer.create_workload_role(
        "team-a-api", issuer=kube_api.url, namespace=NAMESPACE, service_account=ACCOUNT
    )


def _token(kube_api: KubeAPI, account: str = ACCOUNT, audience: str = "sts.amazonaws.com") -> str:
    issued = kube_api.core_v1().create_namespaced_service_account_token(
        account, NAMESPACE, {"spec": {"audiences": [audience], "expirationSeconds": 600}}
    )
    token: str = issued.status.token
    return token


def _assume(peer: StsPeer, role_arn: str, token: str) -> dict[str, Any]:
    sts = boto3.client("sts", endpoint_url=peer.endpoint, region_name=peer.region,
                       config=Config(signature_version=UNSIGNED))
    response: dict[str, Any] = sts.assume_role_with_web_identity(
        RoleArn=role_arn, RoleSessionName="team-a.api", WebIdentityToken=token
    )
    return response


def _refusal(peer: StsPeer, role_arn: str, token: str) -> tuple[int, str]:
    with pytest.raises(ClientError) as refused:
        _assume(peer, role_arn, token)
    error = refused.value.response
    return error["ResponseMetadata"]["HTTPStatusCode"], error["Error"]["Code"]


def test_a_token_of_the_trusted_service_account_gets_the_roles_credentials(
    sts_peer: StsPeer, kube_api: KubeAPI, role: str
) -> None:
    response = _assume(sts_peer, role, _token(kube_api))
    assert response["AssumedRoleUser"]["Arn"] == (
        f"arn:aws:sts::{sts_peer.account_id}:assumed-role/team-a-api/team-a.api"
    )
    [call] = sts_peer.web_identity.calls
    assert (call.subject, call.refused) == (f"system:serviceaccount:{NAMESPACE}:{ACCOUNT}", None)


def test_a_token_of_another_service_account_is_access_denied(
    sts_peer: StsPeer, kube_api: KubeAPI, role: str
) -> None:
    assert _refusal(sts_peer, role, _token(kube_api, "other")) == (403, "AccessDenied")


def test_a_token_for_another_audience_is_an_invalid_identity_token(
    sts_peer: StsPeer, kube_api: KubeAPI, role: str
) -> None:
    token = _token(kube_api, audience="api://AzureADTokenExchange")
    assert _refusal(sts_peer, role, token) == (400, "InvalidIdentityToken")


def test_a_token_signed_with_another_key_is_an_invalid_identity_token(
    sts_peer: StsPeer, kube_api: KubeAPI, role: str
) -> None:
    real = kube_api.emulator.signer
    forger = TokenSigner(issuer=real.issuer, key=rsa.generate_private_key(65537, 2048))
    forged, _ = forger.sign(namespace=NAMESPACE, service_account=ACCOUNT,
                            service_account_uid="x", audiences=["sts.amazonaws.com"],
                            expiration_seconds=600)
    _, payload, signature = forged.split(".")
    genuine_header = _token(kube_api).split(".")[0]  # the published kid, a forged signature
    assert _refusal(sts_peer, role, f"{genuine_header}.{payload}.{signature}") == (
        400, "InvalidIdentityToken")


def test_an_expired_token_is_refused_as_expired(
    sts_peer: StsPeer, kube_api: KubeAPI, role: str
) -> None:
    expired, _ = kube_api.emulator.signer.sign(
        namespace=NAMESPACE, service_account=ACCOUNT, service_account_uid="x",
        audiences=["sts.amazonaws.com"], expiration_seconds=600, now=time.time() - 1200,
    )
    assert _refusal(sts_peer, role, expired) == (400, "ExpiredTokenException")


def test_a_token_of_an_issuer_without_an_oidc_provider_is_refused(
    sts_peer: StsPeer, role: str
) -> None:
    stranger = TokenSigner(issuer="https://oidc.unregistered.test")
    sts_peer.web_identity.keys.register(stranger.issuer, stranger.jwks())
    token, _ = stranger.sign(namespace=NAMESPACE, service_account=ACCOUNT,
                             service_account_uid="x", audiences=["sts.amazonaws.com"],
                             expiration_seconds=600)
    assert _refusal(sts_peer, role, token) == (400, "InvalidIdentityToken")
