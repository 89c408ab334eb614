"""AWS proof for one ServiceAccount: its token → STS ``AssumeRoleWithWebIdentity`` → SigV4.

botocore does the web-identity exchange and its caching: an
``AssumeRoleWithWebIdentityCredentialFetcher`` behind ``DeferredRefreshableCredentials``
refreshes the role's credentials shortly before they expire (one refresh however many threads
ask), and asks for a Kubernetes token only then. The assumed-role ARN — the principal to trust in
Phase — comes from STS's own answer, kept in the fetcher's cache.
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Callable
from dataclasses import replace
from typing import Any

import botocore.session
from botocore.config import Config
from botocore.credentials import (
    AssumeRoleWithWebIdentityCredentialFetcher,
    DeferredRefreshableCredentials,
    ReadOnlyCredentials,
)
from botocore.exceptions import BotoCoreError, ClientError

from external_identity.errors import CredentialsUnavailable, ExternalIdentityError, redact
from external_identity.exchange.proofs import AWS_IAM, Proof, ProviderName
from external_identity.exchange.providers.aws import sign_get_caller_identity
from external_identity.exchange.providers.sts_endpoints import StsTarget
from external_identity.exchange.workloads.accounts import ROLE_ARN_ANNOTATION, ServiceAccount

__all__ = ["WebIdentityAwsProvider"]

_STS_CONFIG = Config(
    connect_timeout=5, read_timeout=10, retries={"total_max_attempts": 2, "mode": "standard"}
)


class WebIdentityAwsProvider:
    """Signs ``GetCallerIdentity`` with the credentials of ``role_arn`` assumed as ``account``."""

    provider: ProviderName = AWS_IAM

    def __init__(
        self,
        *,
        account: ServiceAccount,
        role_arn: str,
        session_name: str,
        audience: str,
        target: StsTarget,
        token: Callable[[], str],
        session: botocore.session.Session,
        session_lock: threading.Lock,
        fetched: Callable[[], None] = lambda: None,
    ) -> None:
        self.account = account
        self.role_arn = role_arn
        self.target = target
        self._audience = audience
        self._session = session
        self._session_lock = session_lock
        self._sts: Any = None
        #: botocore's assume-role cache: STS's last answer, read for the assumed-role ARN.
        self._answers: dict[str, Any] = {}
        fetcher = AssumeRoleWithWebIdentityCredentialFetcher(
            client_creator=self._client,
            web_identity_token_loader=token,
            role_arn=role_arn,
            extra_args={"RoleSessionName": session_name},
            cache=self._answers,
        )

        def fetch() -> dict[str, Any]:
            answer: dict[str, Any] = fetcher.fetch_credentials()
            fetched()
            return answer

        self._credentials = DeferredRefreshableCredentials(
            refresh_using=fetch, method="assume-role-with-web-identity"
        )

    async def proof(self) -> Proof:
        frozen = await asyncio.to_thread(self._frozen)
        return replace(sign_get_caller_identity(frozen, self.target), principal=self.principal)

    @property
    def principal(self) -> str | None:
        """The assumed-role ARN STS last reported, once it has."""
        for answer in list(self._answers.values()):
            arn = (answer.get("AssumedRoleUser") or {}).get("Arn")
            if isinstance(arn, str) and arn:
                return arn
        return None

    def _client(self, service: str, config: Config | None = None) -> Any:
        """The STS client botocore's fetcher calls (unsigned), at the identity's endpoint."""
        if self._sts is None:
            with self._session_lock:  # a botocore session is not thread-safe
                self._sts = self._session.create_client(
                    service,
                    region_name=self.target.region,
                    endpoint_url=self.target.endpoint,
                    config=_STS_CONFIG.merge(config) if config else _STS_CONFIG,
                )
        return self._sts

    def _frozen(self) -> ReadOnlyCredentials:
        try:
            return self._credentials.get_frozen_credentials()
        except ExternalIdentityError:
            raise  # the TokenRequest failed: its own message says why
        except ClientError as error:
            raise CredentialsUnavailable(self._refused(error)) from None
        except BotoCoreError as error:
            raise CredentialsUnavailable(
                f"STS AssumeRoleWithWebIdentity at {self.target.endpoint} for ServiceAccount "
                f"{self.account.ref} failed: {type(error).__name__}: {redact(str(error))}"
            ) from None

    def _refused(self, error: ClientError) -> str:
        details = error.response.get("Error") or {}
        code = str(details.get("Code") or "Error")
        message = redact(str(details.get("Message") or ""))
        return (
            f"STS refused AssumeRoleWithWebIdentity of role {self.role_arn} (annotation "
            f"{ROLE_ARN_ANNOTATION} of ServiceAccount {self.account.ref}): {code}: {message}; "
            f"the role's trust policy must allow the cluster's OIDC provider with sub "
            f"{self.account.subject} and aud {self._audience}"
        )

    async def close(self) -> None:
        return None
