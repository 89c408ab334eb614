"""Small helpers shared by the peers' self-tests (and usable by product tests)."""

from __future__ import annotations

import datetime as dt
from typing import Any, Literal

import httpx

from .phase_model import AwsIamIdentity, Provider, ServiceAccount
from .phase_server import PhaseServer
from .proofs import aws_iam_payload, sign_get_caller_identity
from .sts_peer import AwsCredentials, StsPeer

__all__ = ["aws_account", "post", "signed_payload"]


def post(
    server: PhaseServer,
    provider: Provider,
    payload: Any,
    *,
    form: Literal["console", "api"] = "console",
    timeout: float = 10.0,
) -> httpx.Response:
    url = server.url(provider, form=form)
    if isinstance(payload, bytes):
        return httpx.post(url, content=payload, timeout=timeout)
    return httpx.post(url, json=payload, timeout=timeout)


def aws_account(
    server: PhaseServer, sts: StsPeer, **settings: Any
) -> tuple[ServiceAccount, AwsIamIdentity]:
    """An SSE-enabled account with one AWS identity trusting the peer's trusted role."""
    account = server.add_service_account()
    settings.setdefault("trusted_principals", [sts.trust_pattern()])
    identity = server.add_aws_identity(account, sts_endpoint=sts.endpoint, **settings)
    return account, identity


def signed_payload(
    sts: StsPeer,
    account: ServiceAccount,
    *,
    credentials: AwsCredentials | None = None,
    ttl: int | None = None,
    at: dt.datetime | None = None,
    endpoint: str | None = None,
) -> dict[str, Any]:
    signed = sign_get_caller_identity(
        (credentials or sts.trusted).botocore(), endpoint=endpoint or sts.endpoint, at=at
    )
    return aws_iam_payload(signed, account_id=account.id, ttl=ttl)
