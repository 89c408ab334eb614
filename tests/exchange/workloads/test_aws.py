"""WebIdentityAwsProvider against the moto STS peer: one ServiceAccount's token becomes the role's
credentials (AssumeRoleWithWebIdentity, cached by botocore), which sign GetCallerIdentity; the
assumed-role ARN is the principal. Refusals name the role, the account and the trust to fix.

The ServiceAccount tokens here are the STS peer's own cluster tokens (``web_identity_token``), so
no Kubernetes API is needed; the TokenRequest side has its own tests (test_kube.py).
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Callable

import botocore.session
import pytest
from support.peers.sts_peer import CLUSTER_ISSUER, StsPeer

from external_identity.errors import CredentialsUnavailable
from external_identity.exchange.providers.sts_endpoints import StsTarget, resolve_sts_target
from external_identity.exchange.workloads.accounts import ServiceAccount
from external_identity.exchange.workloads.aws import WebIdentityAwsProvider
from tests.exchange.providers.signed import SignedCall

pytestmark = pytest.mark.usefixtures("loopback_only", "aws_env")

SUBJECT = "system:serviceaccount:payments:api"
ACCOUNT = ServiceAccount.of("payments", "api", "uid-1", None)


class Tokens:
    """The ServiceAccount's token loader: counts how often botocore asks for one."""

    def __init__(self, sts: StsPeer, subject: str = SUBJECT) -> None:
        self.sts = sts
        self.subject = subject
        self.issued: list[str] = []

    def __call__(self) -> str:
        self.issued.append(self.sts.web_identity_token(self.subject))
        return self.issued[-1]


def role(sts: StsPeer, name: str = "payments-web", subject: str = SUBJECT) -> str:
    return sts.create_role(name, web_identities=[sts.web_identity_statement(CLUSTER_ISSUER,
                                                                            subject)])


def provider(
    sts: StsPeer,
    token: Callable[[], str],
    *,
    role_arn: str,
    target: StsTarget | None = None,
    fetched: Callable[[], None] = lambda: None,
) -> WebIdentityAwsProvider:
    return WebIdentityAwsProvider(
        account=ACCOUNT, role_arn=role_arn, session_name="payments.api",
        audience="sts.amazonaws.com",
        target=target or resolve_sts_target(region=None, sts_endpoint=sts.endpoint,
                                             session_region=None),
        token=token, session=botocore.session.get_session(), session_lock=threading.Lock(),
        fetched=fetched,
    )


async def test_the_proof_is_signed_with_the_roles_credentials_and_names_the_assumed_role(
    sts_peer: StsPeer,
) -> None:
    aws = provider(sts_peer, Tokens(sts_peer), role_arn=role(sts_peer))
    assert aws.principal is None

    proof = await aws.proof()

    assumed = f"arn:aws:sts::{sts_peer.account_id}:assumed-role/payments-web/payments.api"
    assert (proof.provider, proof.path, proof.principal) == ("aws-iam", "aws/iam/auth/", assumed)
    assert aws.principal == assumed
    call = SignedCall.of(proof)
    assert call.url == sts_peer.endpoint
    response = call.send()
    assert response.status_code == 200, response.text
    assert f"<Arn>{assumed}</Arn>" in response.text


async def test_the_roles_credentials_are_fetched_once_and_reused(sts_peer: StsPeer) -> None:
    tokens, fetched = Tokens(sts_peer), []
    aws = provider(sts_peer, tokens, role_arn=role(sts_peer),
                   fetched=lambda: fetched.append(None))

    proofs = await asyncio.gather(*(aws.proof() for _ in range(10)))
    await aws.proof()

    assert len({proof.principal for proof in proofs}) == 1
    assert len(tokens.issued) == 1 and len(fetched) == 1
    assert len(sts_peer.faults.calls_of("AssumeRoleWithWebIdentity")) == 1
    assert all(SignedCall.of(proof).send().status_code == 200 for proof in proofs[:2])


async def test_a_role_that_does_not_trust_the_account_is_refused_with_the_trust_to_fix(
    sts_peer: StsPeer,
) -> None:
    arn = role(sts_peer, "payments-other", subject="system:serviceaccount:payments:someone-else")
    tokens = Tokens(sts_peer)
    aws = provider(sts_peer, tokens, role_arn=arn)

    with pytest.raises(CredentialsUnavailable) as refused:
        await aws.proof()

    message = str(refused.value)
    assert message.startswith(
        f"STS refused AssumeRoleWithWebIdentity of role {arn} (annotation "
        "eks.amazonaws.com/role-arn of ServiceAccount payments/api): AccessDenied: ")
    assert message.endswith(
        f"the role's trust policy must allow the cluster's OIDC provider with sub {SUBJECT} "
        "and aud sts.amazonaws.com")
    assert all(token not in message for token in tokens.issued) and "eyJ" not in message
    assert refused.value.__cause__ is None and refused.value.__suppress_context__
    assert aws.principal is None


async def test_a_token_in_the_refusal_is_redacted(sts_peer: StsPeer) -> None:
    leaked = sts_peer.web_identity_token()
    sts_peer.faults.fail_next(action="AssumeRoleWithWebIdentity", status=400,
                              code="InvalidIdentityToken", message=f"bad token {leaked}")
    aws = provider(sts_peer, Tokens(sts_peer), role_arn=role(sts_peer))
    with pytest.raises(CredentialsUnavailable) as refused:
        await aws.proof()
    assert "InvalidIdentityToken: bad token [redacted]" in str(refused.value)
    assert leaked not in str(refused.value)


async def test_after_a_refusal_the_next_proof_asks_again(sts_peer: StsPeer) -> None:
    sts_peer.faults.fail_next(action="AssumeRoleWithWebIdentity", status=403,
                              code="AccessDenied", message="not yet")
    aws = provider(sts_peer, Tokens(sts_peer), role_arn=role(sts_peer))
    with pytest.raises(CredentialsUnavailable):
        await aws.proof()
    assert (await aws.proof()).principal is not None


async def test_a_failed_token_request_is_reported_in_its_own_words(sts_peer: StsPeer) -> None:
    def missing() -> str:
        raise CredentialsUnavailable("ServiceAccount payments/api does not exist")

    aws = provider(sts_peer, missing, role_arn=role(sts_peer))
    with pytest.raises(CredentialsUnavailable) as refused:
        await aws.proof()
    assert str(refused.value) == "ServiceAccount payments/api does not exist"
    assert sts_peer.faults.calls_of("AssumeRoleWithWebIdentity") == []


async def test_an_sts_that_cannot_be_reached_names_the_endpoint_and_the_account(
    sts_peer: StsPeer,
) -> None:
    nowhere = StsTarget(region="us-east-1", endpoint="http://127.0.0.1:9")
    tokens = Tokens(sts_peer)
    aws = provider(sts_peer, tokens, role_arn=role(sts_peer), target=nowhere)
    with pytest.raises(CredentialsUnavailable) as failed:
        await aws.proof()
    message = str(failed.value)
    assert message.startswith(
        "STS AssumeRoleWithWebIdentity at http://127.0.0.1:9 for ServiceAccount payments/api "
        "failed: EndpointConnectionError: ")
    assert all(token not in message for token in tokens.issued)


async def test_closing_leaves_nothing_to_clean_up(sts_peer: StsPeer) -> None:
    aws = provider(sts_peer, Tokens(sts_peer), role_arn=role(sts_peer))
    await aws.proof()
    await aws.close()
    assert (await aws.proof()).principal == aws.principal
