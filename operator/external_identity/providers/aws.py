"""AWS IAM proof: a SigV4-signed STS ``GetCallerIdentity`` request.

Credentials come from botocore's standard chain, so IRSA (projected web
identity token), EKS Pod Identity, environment variables and instance
profiles all work unchanged. botocore caches and refreshes them; we only ask
for a frozen snapshot just before signing. Signing itself is pure.
"""

from __future__ import annotations

import asyncio
import base64
import json
from dataclasses import dataclass, replace
from typing import Any
from urllib.parse import urlsplit

import botocore.session
from botocore.auth import SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.credentials import ReadOnlyCredentials
from botocore.exceptions import BotoCoreError, ClientError

from ..errors import ConfigurationError, CredentialsUnavailable, redact
from ..proofs import AWS_IAM, Proof, ProviderName

__all__ = [
    "GET_CALLER_IDENTITY_BODY",
    "AwsIamProvider",
    "StsTarget",
    "resolve_sts_target",
    "sign_get_caller_identity",
]

GLOBAL_REGION = "us-east-1"
GLOBAL_STS_ENDPOINT = "https://sts.amazonaws.com"
GET_CALLER_IDENTITY_BODY = "Action=GetCallerIdentity&Version=2011-06-15"
FORM_CONTENT_TYPE = "application/x-www-form-urlencoded; charset=utf-8"


@dataclass(frozen=True)
class StsTarget:
    """Which STS endpoint to sign for, and the region that signs it."""

    region: str
    endpoint: str

    @property
    def host(self) -> str:
        return urlsplit(self.endpoint).netloc


def resolve_sts_target(
    *, region: str | None, sts_endpoint: str | None, session_region: str | None
) -> StsTarget:
    """Pick region and endpoint the way the Phase CLI does, with explicit overrides.

    us-east-1 signs for the global endpoint ``https://sts.amazonaws.com``; any
    other region for ``https://sts.<region>.amazonaws.com``.
    """
    chosen_region = region or session_region or GLOBAL_REGION
    if sts_endpoint:
        parts = urlsplit(sts_endpoint)
        if parts.scheme not in ("https", "http") or not parts.netloc:
            raise ConfigurationError(
                f"STS endpoint {sts_endpoint!r} is not an absolute http(s) URL"
            )
        endpoint = f"{parts.scheme}://{parts.netloc}"
    elif chosen_region == GLOBAL_REGION:
        endpoint = GLOBAL_STS_ENDPOINT
    else:
        endpoint = f"https://sts.{chosen_region}.amazonaws.com"
    return StsTarget(region=chosen_region, endpoint=endpoint)


def _b64(text: str) -> str:
    return base64.b64encode(text.encode()).decode()


def sign_get_caller_identity(credentials: ReadOnlyCredentials, target: StsTarget) -> Proof:
    """Sign ``GetCallerIdentity`` for ``target`` now and wrap it as a proof. No I/O."""
    request = AWSRequest(
        method="POST",
        url=target.endpoint,
        data=GET_CALLER_IDENTITY_BODY,
        headers={"Host": target.host, "Content-Type": FORM_CONTENT_TYPE},
    )
    SigV4Auth(credentials, "sts", target.region).add_auth(request)
    headers = {name: value for name, value in request.headers.items()}
    return Proof(
        provider=AWS_IAM,
        path="aws/iam/auth/",
        payload={
            "awsIam": {
                "httpRequestMethod": "POST",
                "httpRequestUrl": _b64(target.endpoint),
                "httpRequestHeaders": _b64(json.dumps(headers)),
                "httpRequestBody": _b64(GET_CALLER_IDENTITY_BODY),
            }
        },
    )


class AwsIamProvider:
    """Signs a fresh ``GetCallerIdentity`` for every exchange."""

    provider: ProviderName = AWS_IAM

    def __init__(
        self,
        *,
        region: str | None = None,
        sts_endpoint: str | None = None,
        session: botocore.session.Session | None = None,
    ) -> None:
        self._session = session or botocore.session.get_session()
        self._principal: str | None = None
        self._principal_lock = asyncio.Lock()
        self.target = resolve_sts_target(
            region=region,
            sts_endpoint=sts_endpoint,
            session_region=self._session.get_config_variable("region"),
        )

    async def proof(self) -> Proof:
        credentials = await asyncio.to_thread(self._frozen_credentials)
        if self._principal is None:
            async with self._principal_lock:  # one STS lookup, not one per concurrent exchange
                if self._principal is None:
                    self._principal = await asyncio.to_thread(self._caller_arn)
        proof = sign_get_caller_identity(credentials, self.target)
        return replace(proof, principal=self._principal or None)

    def _caller_arn(self) -> str:
        """Ask STS once who we are, for status; an empty answer means unknown."""
        try:
            # botocore generates its client methods at run time; mypy cannot see them.
            sts: Any = self._session.create_client(
                "sts", region_name=self.target.region, endpoint_url=self.target.endpoint
            )
            arn = sts.get_caller_identity().get("Arn")
        except (BotoCoreError, ClientError):
            return ""
        return arn if isinstance(arn, str) else ""

    def _frozen_credentials(self) -> ReadOnlyCredentials:
        try:
            credentials = self._session.get_credentials()
            frozen = credentials.get_frozen_credentials() if credentials is not None else None
        except (BotoCoreError, ClientError) as error:
            raise CredentialsUnavailable(
                f"AWS credentials could not be loaded: {type(error).__name__}: "
                f"{redact(str(error))}"
            ) from None
        except RuntimeError as error:
            # botocore raises RuntimeError when refreshed credentials are still expired.
            raise CredentialsUnavailable(f"AWS credentials are expired: {error}") from None
        if frozen is None or not frozen.access_key or not frozen.secret_key:
            raise CredentialsUnavailable(
                "no AWS credentials found: configure IRSA (AWS_ROLE_ARN + "
                "AWS_WEB_IDENTITY_TOKEN_FILE), EKS Pod Identity, AWS_ACCESS_KEY_ID/"
                "AWS_SECRET_ACCESS_KEY, or an instance profile"
            )
        return frozen

    async def close(self) -> None:
        return None

