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
import logging
import time
from collections.abc import Callable
from dataclasses import replace
from typing import Any

import botocore.session
from botocore.auth import SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.config import Config
from botocore.credentials import ReadOnlyCredentials
from botocore.exceptions import BotoCoreError, ClientError

from external_identity.errors import CredentialsUnavailable, redact
from external_identity.exchange.proofs import AWS_IAM, Proof, ProviderName
from external_identity.exchange.providers.sts_endpoints import StsTarget, resolve_sts_target

__all__ = [
    "EXCHANGE_PATH",
    "GET_CALLER_IDENTITY_BODY",
    "PRINCIPAL_RETRY_INTERVAL",
    "AwsIamProvider",
    "StsTarget",
    "resolve_sts_target",
    "sign_get_caller_identity",
]

#: The token service's exchange path for this provider, below identities/external/v1/.
EXCHANGE_PATH = "aws/iam/auth/"
GET_CALLER_IDENTITY_BODY = "Action=GetCallerIdentity&Version=2011-06-15"
FORM_CONTENT_TYPE = "application/x-www-form-urlencoded; charset=utf-8"
#: After a failed caller-ARN lookup, proofs go without a principal for this long.
PRINCIPAL_RETRY_INTERVAL = 60.0
#: The lookup is for status only: one quick attempt, never a stalled exchange.
_LOOKUP_CONFIG = Config(
    connect_timeout=5, read_timeout=5, retries={"total_max_attempts": 1, "mode": "standard"}
)

log = logging.getLogger(__name__)


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
        path=EXCHANGE_PATH,
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
    """Signs a fresh ``GetCallerIdentity`` for every exchange.

    The caller ARN (the proof's ``principal``, for status and error reports) is
    looked up once and kept only once known: after a failed lookup, proofs carry
    no principal and the lookup is tried again on the first proof at least
    ``principal_retry_interval`` seconds (by ``monotonic``) later.
    """

    provider: ProviderName = AWS_IAM

    def __init__(
        self,
        *,
        region: str | None = None,
        sts_endpoint: str | None = None,
        session: botocore.session.Session | None = None,
        principal_retry_interval: float = PRINCIPAL_RETRY_INTERVAL,
        monotonic: Callable[[], float] = time.monotonic,
    ) -> None:
        self._session = session or botocore.session.get_session()
        self._principal: str | None = None
        self._principal_lock = asyncio.Lock()
        self._lookup_failed_at: float | None = None
        self._retry_interval = principal_retry_interval
        self._monotonic = monotonic
        self.target = resolve_sts_target(
            region=region,
            sts_endpoint=sts_endpoint,
            session_region=self._session.get_config_variable("region"),
        )

    async def proof(self) -> Proof:
        credentials = await asyncio.to_thread(self.frozen_credentials)
        principal = await self._known_principal()
        proof = sign_get_caller_identity(credentials, self.target)
        return replace(proof, principal=principal)

    async def _known_principal(self) -> str | None:
        if self._principal is None:
            async with self._principal_lock:  # one STS lookup, not one per concurrent exchange
                if self._principal is None and self._lookup_due():
                    arn = await asyncio.to_thread(self._caller_arn)
                    if arn is None:
                        self._lookup_failed_at = self._monotonic()
                    else:
                        self._principal, self._lookup_failed_at = arn, None
        return self._principal

    def _lookup_due(self) -> bool:
        failed_at = self._lookup_failed_at
        return failed_at is None or self._monotonic() - failed_at >= self._retry_interval

    def lookup_caller_arn(self) -> str | None:
        """Ask STS at the target endpoint who we are (blocking); botocore's errors pass through."""
        # botocore generates its client methods at run time; mypy cannot see them.
        sts: Any = self._session.create_client(
            "sts",
            region_name=self.target.region,
            endpoint_url=self.target.endpoint,
            config=_LOOKUP_CONFIG,
        )
        arn = sts.get_caller_identity().get("Arn")
        return arn if isinstance(arn, str) and arn else None

    def credential_source(self) -> str | None:
        """botocore's name for the link of its chain that found the credentials, once loaded.

        E.g. ``env``, ``assume-role-with-web-identity`` (IRSA), ``container-role`` (EKS Pod
        Identity), ``iam-role`` (instance profile); None before :meth:`frozen_credentials`.
        """
        credentials = self._session.get_credentials()
        method = getattr(credentials, "method", None)
        return method if isinstance(method, str) else None

    def _caller_arn(self) -> str | None:
        """Ask STS who we are, for status; None when it could not say."""
        try:
            arn = self.lookup_caller_arn()
        except (BotoCoreError, ClientError) as error:
            log.info(
                "AWS caller ARN lookup at %s failed; proofs name no principal until it works: "
                "%s: %s", self.target.endpoint, type(error).__name__, redact(str(error)),
            )
            return None
        return arn

    def frozen_credentials(self) -> ReadOnlyCredentials:
        """A snapshot of botocore's credentials (blocking: may refresh them)."""
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

