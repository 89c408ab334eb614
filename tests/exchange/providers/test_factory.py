"""build_provider: the provider a setting names, configured from the settings first and the pod's
environment second, proven against the STS and Entra peers."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest
from support.peers.entra_peer import EntraPeer
from support.peers.sts_peer import StsPeer

from external_identity.errors import ConfigurationError
from external_identity.exchange.providers.aws import AwsIamProvider
from external_identity.exchange.providers.factory import build_provider
from external_identity.exchange.providers.settings import ProviderSettings
from tests.exchange.providers.signed import SignedCall

pytestmark = pytest.mark.usefixtures("loopback_only")


async def test_an_aws_setting_builds_a_provider_signing_for_its_endpoint_and_region(
    sts_peer: StsPeer, aws_env: dict[str, str]
) -> None:
    provider = build_provider(ProviderSettings(
        provider="aws-iam", aws_region="eu-west-1", aws_sts_endpoint=sts_peer.endpoint))
    assert isinstance(provider, AwsIamProvider)
    assert (provider.target.endpoint, provider.target.region) == (sts_peer.endpoint, "eu-west-1")
    sts_peer.faults.require_signing_region("eu-west-1")
    call = SignedCall.of(await provider.proof())
    assert call.signing_region == "eu-west-1"
    assert call.send().status_code == 200


async def test_an_azure_setting_signs_in_as_the_app_and_tenant_it_names(
    entra_peer: EntraPeer, aiohttp_trusts_entra: None
) -> None:
    app = entra_peer.add_client()
    environ = {
        "AZURE_FEDERATED_TOKEN_FILE": str(entra_peer.write_federated_token()),
        "AZURE_TENANT_ID": "00000000-0000-0000-0000-00000000dead",
        "AZURE_CLIENT_ID": entra_peer.client_id,
        "AZURE_AUTHORITY_HOST": "https://login.invalid",
    }
    provider = build_provider(ProviderSettings(
        provider="azure", azure_tenant_id=entra_peer.tenant_id, azure_client_id=app.client_id,
        azure_resource="api://phase-console", azure_authority_host=entra_peer.authority_host,
    ), environ=environ)
    try:
        proof = await provider.proof()
    finally:
        await provider.close()
    assert proof.provider == "azure"
    assert proof.principal == app.oid
    [request] = entra_peer.token_requests()
    assert request.scope == "api://phase-console/.default"


async def test_an_azure_setting_without_app_or_tenant_takes_them_from_the_pod(
    entra_peer: EntraPeer, entra_env: dict[str, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("AZURE_FEDERATED_TOKEN_FILE")  # a service principal's secret instead
    monkeypatch.setenv("AZURE_CLIENT_SECRET", entra_peer.client_secret)
    provider = build_provider(ProviderSettings(provider="azure"))  # os.environ, as in a pod
    try:
        proof = await provider.proof()
    finally:
        await provider.close()
    assert proof.principal == entra_peer.oid
    [request] = entra_peer.token_requests()
    assert (request.auth_method, request.client_id) == ("secret", entra_peer.client_id)
    assert request.scope == "https://management.azure.com/.default"


@pytest.mark.parametrize("name", ["gcp", "AWS-IAM", ""])
def test_an_unknown_provider_is_a_configuration_error_naming_the_known_ones(name: str) -> None:
    with pytest.raises(ConfigurationError) as refused:
        build_provider(ProviderSettings(provider=name), environ={})
    assert str(refused.value) == (
        f"unknown provider {name!r}; expected 'aws-iam' or 'azure'"
    )


def test_an_operator_with_only_aws_identities_never_loads_azure_identity() -> None:
    probe = (
        "import sys\n"
        "from external_identity.exchange.providers.factory import build_provider\n"
        "from external_identity.exchange.providers.settings import ProviderSettings\n"
        "build_provider(ProviderSettings(provider='aws-iam', aws_region='eu-west-1'), environ={})\n"
        "print('azure' in sys.modules, 'botocore' in sys.modules)\n"
    )
    environ = {key: value for key, value in os.environ.items() if not key.startswith("AWS_")}
    environ |= {"AWS_CONFIG_FILE": os.devnull, "AWS_SHARED_CREDENTIALS_FILE": os.devnull,
                "AWS_EC2_METADATA_DISABLED": "true"}
    result = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True,
                            check=True, env=environ)
    assert result.stdout.split() == ["False", "True"]
