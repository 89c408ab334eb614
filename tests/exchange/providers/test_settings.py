"""The provider settings an ExternalIdentity's spec names: only what a provider needs, so identities
that prove the same thing share one provider."""

from __future__ import annotations

import subprocess
import sys
from typing import Any

from external_identity.api.specs import parse_identity
from external_identity.exchange.providers.settings import ProviderSettings, settings_for

TENANT = "11111111-2222-3333-4444-555555555555"
CLIENT = "66666666-7777-8888-9999-000000000000"


def test_an_aws_identity_names_its_region_and_sts_endpoint() -> None:
    identity = parse_identity({"provider": "aws-iam", "aws": {
        "region": "eu-west-1", "stsEndpoint": "https://sts.eu-west-1.amazonaws.com"}})
    assert settings_for(identity) == ProviderSettings(
        provider="aws-iam", aws_region="eu-west-1",
        aws_sts_endpoint="https://sts.eu-west-1.amazonaws.com",
    )


def test_an_aws_identity_without_an_aws_block_leaves_both_to_the_pods_environment() -> None:
    settings = settings_for(parse_identity({"provider": "aws-iam"}))
    assert (settings.aws_region, settings.aws_sts_endpoint) == (None, None)
    assert (settings.azure_tenant_id, settings.azure_client_id) == (None, None)


def test_an_azure_identity_names_tenant_client_resource_and_authority() -> None:
    identity = parse_identity({"provider": "azure", "azure": {
        "tenantId": TENANT, "clientId": CLIENT, "resource": "api://phase",
        "authorityHost": "https://login.microsoftonline.us"}})
    assert settings_for(identity) == ProviderSettings(
        provider="azure", azure_tenant_id=TENANT, azure_client_id=CLIENT,
        azure_resource="api://phase", azure_authority_host="https://login.microsoftonline.us",
    )


def test_an_azure_identity_asks_for_the_management_resource_by_default() -> None:
    settings = settings_for(parse_identity({"provider": "azure", "azure": {"tenantId": TENANT}}))
    assert settings.azure_resource == "https://management.azure.com/"
    assert (settings.azure_client_id, settings.azure_authority_host) == (None, None)
    assert (settings.aws_region, settings.aws_sts_endpoint) == (None, None)


def _aws(**spec: Any) -> ProviderSettings:
    return settings_for(parse_identity({"provider": "aws-iam", "aws": {"region": "eu-west-1"},
                                        **spec}))


def test_identities_that_differ_only_outside_the_provider_have_equal_settings() -> None:
    one = _aws(description="prod", tokenService={"host": "https://phase.example.com"},
               defaultTTL=600, allowedNamespaces=["payments"])
    other = _aws(description="staging", credentials={"source": "ServiceAccount"})
    assert one == other and hash(one) == hash(other)
    assert len({one, other}) == 1


def test_identities_that_prove_differently_have_different_settings() -> None:
    assert _aws() != settings_for(parse_identity({"provider": "aws-iam",
                                                  "aws": {"region": "us-east-1"}}))


def test_this_module_loads_no_io_library() -> None:
    probe = (
        "import sys, external_identity.exchange.providers.settings\n"
        "print(sorted({m.split('.')[0] for m in sys.modules}))\n"
    )
    result = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True,
                            check=True)
    loaded = set(eval(result.stdout))
    assert "pydantic" in loaded
    assert loaded.isdisjoint({"kubernetes", "urllib3", "httpx", "botocore", "azure", "kopf"})
