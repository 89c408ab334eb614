"""Build the right provider from plain settings (CLI flags or an identity spec)."""

from __future__ import annotations

import os
from collections.abc import Mapping

from external_identity.errors import ConfigurationError
from external_identity.exchange.proofs import AWS_IAM, AZURE, ProofProvider
from external_identity.exchange.providers.aws import AwsIamProvider
from external_identity.exchange.providers.settings import ProviderSettings

__all__ = ["build_provider"]



def build_provider(
    settings: ProviderSettings, *, environ: Mapping[str, str] | None = None
) -> ProofProvider:
    environ = os.environ if environ is None else environ
    if settings.provider == AWS_IAM:
        return AwsIamProvider(region=settings.aws_region, sts_endpoint=settings.aws_sts_endpoint)
    if settings.provider == AZURE:
        # azure-identity costs ~13 MiB to import: only operators with Azure identities pay it.
        from external_identity.exchange.providers.azure import AzureProvider, build_azure_credential

        credential = build_azure_credential(
            environ=environ,
            tenant_id=settings.azure_tenant_id,
            client_id=settings.azure_client_id,
            authority=settings.azure_authority_host,
        )
        return AzureProvider(credential=credential, resource=settings.azure_resource)
    raise ConfigurationError(
        f"unknown provider {settings.provider!r}; expected {AWS_IAM!r} or {AZURE!r}"
    )
