"""What a provider needs, as plain settings: from CLI flags or an identity's spec. Pure; no I/O."""

from __future__ import annotations

from dataclasses import dataclass

from external_identity.api import defaults
from external_identity.api.specs import AwsSpec, IdentitySpec

__all__ = ["ProviderSettings", "settings_for"]


@dataclass(frozen=True)
class ProviderSettings:
    """Everything a provider needs; unset fields fall back to the pod's environment."""

    provider: str
    aws_region: str | None = None
    aws_sts_endpoint: str | None = None
    azure_tenant_id: str | None = None
    azure_client_id: str | None = None
    azure_resource: str = defaults.AZURE_RESOURCE
    azure_authority_host: str | None = None


def settings_for(identity: IdentitySpec) -> ProviderSettings:
    """The provider settings an ExternalIdentity's spec names."""
    aws, azure = identity.aws or AwsSpec(), identity.azure
    return ProviderSettings(
        provider=identity.provider,
        aws_region=aws.region,
        aws_sts_endpoint=aws.sts_endpoint,
        azure_tenant_id=azure.tenant_id if azure else None,
        azure_client_id=azure.client_id if azure else None,
        azure_resource=azure.resource if azure else defaults.AZURE_RESOURCE,
        azure_authority_host=azure.authority_host if azure else None,
    )
