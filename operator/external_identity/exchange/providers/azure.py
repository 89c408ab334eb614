"""Azure proof: an Entra access token for the identity's resource, base64-wrapped.

The credential is picked once, deterministically, from what the pod has —
workload identity (projected federated token file), then an environment
service principal (secret or certificate), else managed identity; the identity's
``azure.tenantId``/``clientId`` win over the pod's AZURE_TENANT_ID/AZURE_CLIENT_ID — instead of
walking DefaultAzureCredential's long chain, so a misconfigured pod gets one
clear error and tests never probe IMDS. azure-identity caches the access token
and refreshes it before it expires; we reuse one credential for all exchanges.
"""

from __future__ import annotations

import base64
from collections.abc import Callable, Mapping
from typing import Any, Protocol
from urllib.parse import urlsplit

import jwt
from azure.core.exceptions import AzureError, ClientAuthenticationError
from azure.identity import AzureAuthorityHosts, CredentialUnavailableError
from azure.identity.aio import (
    CertificateCredential,
    ClientAssertionCredential,
    ClientSecretCredential,
    ManagedIdentityCredential,
    WorkloadIdentityCredential,
)

from external_identity.api import defaults
from external_identity.errors import ConfigurationError, CredentialsUnavailable, redact
from external_identity.exchange.proofs import AZURE, Proof, ProviderName

__all__ = [
    "EXCHANGE_PATH",
    "AzureProvider",
    "build_azure_credential",
    "build_client_assertion_credential",
    "is_microsoft_authority",
    "scope_for",
]

#: The token service's exchange path for this provider, below identities/external/v1/.
EXCHANGE_PATH = "azure/entra/auth/"
MICROSOFT_AUTHORITY_HOSTS = frozenset(
    {
        AzureAuthorityHosts.AZURE_PUBLIC_CLOUD,
        AzureAuthorityHosts.AZURE_GOVERNMENT,
        AzureAuthorityHosts.AZURE_CHINA,
    }
)


class AsyncTokenCredential(Protocol):
    async def get_token(self, *scopes: str, **kwargs: Any) -> Any: ...

    async def close(self) -> None: ...


def scope_for(resource: str) -> str:
    """``https://management.azure.com/`` → ``https://management.azure.com/.default``."""
    return resource.rstrip("/") + "/.default"


def is_microsoft_authority(authority: str) -> bool:
    host = urlsplit(authority if "://" in authority else f"https://{authority}").hostname or ""
    return host in MICROSOFT_AUTHORITY_HOSTS


def _authority_kwargs(authority: str | None) -> dict[str, Any]:
    if not authority:
        return {}
    if not authority.startswith("https://"):
        raise ConfigurationError(f"Azure authority host {authority!r} must be an https:// URL")
    # MSAL asks login.microsoftonline.com to "discover" any other authority first,
    # which hangs on private clouds and offline test peers.
    return {
        "authority": authority,
        "disable_instance_discovery": not is_microsoft_authority(authority),
    }


def build_azure_credential(
    *,
    environ: Mapping[str, str],
    tenant_id: str | None = None,
    client_id: str | None = None,
    authority: str | None = None,
) -> AsyncTokenCredential:
    """The one credential this pod's environment supports, configured explicitly."""
    tenant = tenant_id or environ.get("AZURE_TENANT_ID")
    client = client_id or environ.get("AZURE_CLIENT_ID")
    authority_kwargs = _authority_kwargs(authority or environ.get("AZURE_AUTHORITY_HOST"))
    token_file = environ.get("AZURE_FEDERATED_TOKEN_FILE")
    if token_file:
        if not tenant or not client:
            raise CredentialsUnavailable(
                "Azure workload identity needs AZURE_TENANT_ID (or spec.azure.tenantId) and "
                "AZURE_CLIENT_ID; is the pod labelled azure.workload.identity/use=true?"
            )
        return WorkloadIdentityCredential(
            tenant_id=tenant, client_id=client, token_file_path=token_file, **authority_kwargs
        )
    secret = environ.get("AZURE_CLIENT_SECRET")
    certificate = environ.get("AZURE_CLIENT_CERTIFICATE_PATH")
    if secret or certificate:
        # Built here rather than by EnvironmentCredential, which reads only os.environ and
        # so would ignore spec.azure.clientId / tenantId.
        if not tenant or not client:
            raise CredentialsUnavailable(
                "an Azure service principal needs AZURE_TENANT_ID (or spec.azure.tenantId) and "
                "AZURE_CLIENT_ID (or spec.azure.clientId)"
            )
        if secret:
            return ClientSecretCredential(tenant, client, secret, **authority_kwargs)
        return CertificateCredential(
            tenant, client, certificate_path=certificate,
            password=environ.get("AZURE_CLIENT_CERTIFICATE_PASSWORD"),
            send_certificate_chain=bool(environ.get("AZURE_CLIENT_SEND_CERTIFICATE_CHAIN")),
            **authority_kwargs,
        )
    return ManagedIdentityCredential(client_id=client)


def build_client_assertion_credential(
    *, tenant_id: str, client_id: str, assertion: Callable[[], str], authority: str | None
) -> AsyncTokenCredential:
    """Entra client credentials whose client assertion ``assertion()`` supplies (a Kubernetes
    ServiceAccount token, for per-workload identity)."""
    return ClientAssertionCredential(
        tenant_id, client_id, assertion, **_authority_kwargs(authority)
    )


class AzureProvider:
    """Fetches (cached) Entra access tokens and wraps them as proofs."""

    provider: ProviderName = AZURE

    def __init__(
        self, *, credential: AsyncTokenCredential, resource: str = defaults.AZURE_RESOURCE
    ) -> None:
        if not resource.strip():
            raise ConfigurationError("Azure resource/audience must not be empty")
        self._credential = credential
        self.resource = resource
        self.scope = scope_for(resource)

    async def proof(self) -> Proof:
        try:
            access = await self._credential.get_token(self.scope)
        except CredentialUnavailableError as error:
            raise CredentialsUnavailable(
                f"no Azure credential available: {redact(str(error))}"
            ) from None
        except ClientAuthenticationError as error:
            raise CredentialsUnavailable(
                f"Entra refused to issue a token for {self.scope}: {redact(_first_line(error))}"
            ) from None
        except (AzureError, ValueError, OSError) as error:
            raise CredentialsUnavailable(
                f"Azure credential failed: {type(error).__name__}: {redact(_first_line(error))}"
            ) from None
        encoded = base64.b64encode(access.token.encode()).decode()
        return Proof(
            provider=AZURE,
            path=EXCHANGE_PATH,
            payload={"azureEntra": {"jwt": encoded}},
            principal=_object_id(access.token),
        )

    async def close(self) -> None:
        await self._credential.close()


def _object_id(token: str) -> str | None:
    """The ``oid`` claim, read (not verified — the token service verifies) for status."""
    try:
        claims = jwt.decode(token, options={"verify_signature": False})
    except jwt.PyJWTError:
        return None
    oid = claims.get("oid")
    return oid if isinstance(oid, str) else None


def _first_line(error: BaseException) -> str:
    text = str(error).strip()
    return text.splitlines()[0] if text else type(error).__name__
