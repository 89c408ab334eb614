"""explain's cloud checks, called directly on a run's context: which credentials this process
has and where they came from, who they prove (at the moto STS peer), and the STS endpoint the
proof is signed for. The environment is the only input; no exchange is made."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from support.peers.sts_peer import StsPeer

from external_identity.api.specs import parse_identity
from external_identity.cli.explain.cloud import (
    check_credentials,
    check_principal,
    check_sts_endpoint,
)
from external_identity.cli.explain.inputs import Subject
from external_identity.cli.explain.state import Context, Finding
from external_identity.errors import ConfigurationError, CredentialsUnavailable

pytestmark = pytest.mark.usefixtures("loopback_only")

TENANT = "11111111-2222-3333-4444-555555555555"
CLIENT = "22222222-3333-4444-5555-666666666666"
AZURE = {"provider": "azure", "azure": {"tenantId": TENANT}}
PER_WORKLOAD = {"provider": "aws-iam", "credentials": {"source": "ServiceAccount"}}
AZURE_ENV = ("AZURE_CLIENT_ID", "AZURE_TENANT_ID", "AZURE_CLIENT_SECRET",
             "AZURE_FEDERATED_TOKEN_FILE", "AZURE_CLIENT_CERTIFICATE_PATH", "AZURE_AUTHORITY_HOST")


def context(spec: dict[str, Any]) -> Context:
    """A run whose schema and chain checks passed for an identity with this spec."""
    identity = {"kind": "ExternalIdentity", "metadata": {"name": "prod"}, "spec": spec}
    ctx = Context(Subject(identity=identity, binding=None, namespace="", origin="files"),
                  exchange=False)
    ctx.identity = parse_identity(spec)
    return ctx


async def checked(spec: dict[str, Any], *checks: Any) -> list[Finding]:
    ctx = context(spec)
    try:
        return [await check(ctx) for check in checks]
    finally:
        await ctx.close()


@pytest.fixture
def no_azure_env(monkeypatch: pytest.MonkeyPatch) -> pytest.MonkeyPatch:
    for name in AZURE_ENV:
        monkeypatch.delenv(name, raising=False)
    return monkeypatch


# -- credentials and principal ---------------------------------------------------------------------


async def test_per_workload_credentials_are_not_checked_here() -> None:
    findings = await checked(PER_WORKLOAD, check_credentials, check_principal)
    assert [(f.check, f.verdict) for f in findings] == [
        ("credentials", "not checked"), ("principal", "not checked")]
    assert "exchanges a Kubernetes token of the binding's ServiceAccount at AWS STS" in (
        findings[0].seen)


async def test_aws_credentials_from_the_environment_and_the_role_they_prove(
    sts_peer: StsPeer, aws_env: dict[str, str]
) -> None:
    spec = {"provider": "aws-iam", "aws": {"stsEndpoint": sts_peer.endpoint}}
    credentials, principal = await checked(spec, check_credentials, check_principal)

    kind = "temporary" if "AWS_SESSION_TOKEN" in aws_env else "long-lived"
    assert credentials.verdict == "ok"
    assert credentials.seen == (f"AWS, {kind}, from environment variables (AWS_ACCESS_KEY_ID) "
                                "(botocore: env)")
    assert principal.verdict == "ok"
    assert principal.seen.startswith(
        f"{sts_peer.assumed_role_arn} (GetCallerIdentity at {sts_peer.endpoint})")
    role = sts_peer.assumed_role_arn.split("/")[1]
    assert principal.seen.endswith(
        f"; trust arn:aws:sts::{sts_peer.account_id}:assumed-role/{role}/* in the Phase identity")


async def test_no_aws_credentials_fail_naming_the_ways_to_give_them(
    sts_peer: StsPeer, aws_env: dict[str, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    for name in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN"):
        monkeypatch.delenv(name, raising=False)
    [finding] = await checked({"provider": "aws-iam"}, check_credentials)
    assert finding.verdict == "failed"
    assert isinstance(finding.error, CredentialsUnavailable)
    assert finding.fix.startswith("give the operator's pod AWS credentials: IRSA")
    assert "kubectl exec deploy/external-identity-operator" in finding.fix


async def test_an_azure_service_principal_from_the_environment(
    no_azure_env: pytest.MonkeyPatch,
) -> None:
    no_azure_env.setenv("AZURE_CLIENT_ID", CLIENT)
    no_azure_env.setenv("AZURE_TENANT_ID", TENANT)
    no_azure_env.setenv("AZURE_CLIENT_SECRET", "not-a-real-secret")
    [finding] = await checked(AZURE, check_credentials)
    assert (finding.verdict, finding.seen) == (
        "ok", f"Azure service principal from the environment, client {CLIENT}")
    assert "not-a-real-secret" not in finding.seen


async def test_azure_workload_identity_names_its_federated_token_file(
    no_azure_env: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    token_file = tmp_path / "azure-identity-token"
    token_file.write_text("eyJ.not.checked")
    no_azure_env.setenv("AZURE_CLIENT_ID", CLIENT)
    no_azure_env.setenv("AZURE_FEDERATED_TOKEN_FILE", str(token_file))
    [finding] = await checked(AZURE, check_credentials)
    assert (finding.verdict, finding.seen) == (
        "ok", f"Azure workload identity: federated token file {token_file} "
        f"(AZURE_FEDERATED_TOKEN_FILE), client {CLIENT}")


async def test_an_empty_federated_token_file_fails_naming_the_webhooks_label(
    no_azure_env: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    token_file = tmp_path / "azure-identity-token"
    token_file.write_text("")
    no_azure_env.setenv("AZURE_CLIENT_ID", CLIENT)
    no_azure_env.setenv("AZURE_FEDERATED_TOKEN_FILE", str(token_file))
    [finding] = await checked(AZURE, check_credentials)
    assert finding.verdict == "failed"
    assert finding.seen == f"federated token file {token_file} is missing or empty"
    assert "azure.workload.identity/use=true" in finding.fix


async def test_azure_workload_identity_without_a_client_fails_as_credentials_unavailable(
    no_azure_env: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    no_azure_env.setenv("AZURE_FEDERATED_TOKEN_FILE", str(tmp_path / "token"))
    [finding] = await checked(AZURE, check_credentials)
    assert finding.verdict == "failed"
    assert isinstance(finding.error, CredentialsUnavailable)
    assert "AZURE_CLIENT_ID" in finding.seen


async def test_nothing_configured_on_azure_is_left_to_the_managed_identity(
    no_azure_env: pytest.MonkeyPatch,
) -> None:
    [finding] = await checked(AZURE, check_credentials)
    assert finding.verdict == "ok"
    assert finding.seen.startswith("Azure managed identity (nothing else configured")


# -- the STS endpoint ------------------------------------------------------------------------------


PRIVATE = "https://vpce-1.sts.example.internal"


@pytest.mark.parametrize(
    ("aws", "environment", "endpoint", "region", "source"),
    [
        ({"stsEndpoint": "https://sts.eu-west-1.amazonaws.com", "region": "eu-west-1"}, None,
         "https://sts.eu-west-1.amazonaws.com", "eu-west-1", "its host"),
        ({"region": "eu-west-2"}, "eu-central-1", "https://sts.eu-west-2.amazonaws.com",
         "eu-west-2", "its host"),
        (None, "eu-central-1", "https://sts.amazonaws.com", "us-east-1", "its host"),
        ({"stsEndpoint": PRIVATE, "region": "eu-west-1"}, "eu-central-1", PRIVATE, "eu-west-1",
         "spec.aws.region"),
        ({"stsEndpoint": PRIVATE}, "eu-central-1", PRIVATE, "eu-central-1",
         "this environment's AWS region or the us-east-1 default"),
        ({"stsEndpoint": PRIVATE}, None, PRIVATE, "us-east-1",
         "this environment's AWS region or the us-east-1 default"),
    ],
    ids=["endpoint", "region", "neither", "private host and region", "private host",
         "private host, no region anywhere"],
)
async def test_the_signed_endpoint_and_region_and_where_the_region_came_from(
    monkeypatch: pytest.MonkeyPatch, aws: dict[str, str] | None, environment: str | None,
    endpoint: str, region: str, source: str,
) -> None:
    for name in ("AWS_REGION", "AWS_DEFAULT_REGION", "AWS_PROFILE"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("AWS_CONFIG_FILE", "/dev/null")
    if environment is not None:
        monkeypatch.setenv("AWS_DEFAULT_REGION", environment)
    spec = {**PER_WORKLOAD, **({"aws": aws} if aws else {})}
    [finding] = await checked(spec, check_sts_endpoint)
    assert finding.verdict == "ok"
    assert finding.seen.startswith(f"signs GetCallerIdentity for {endpoint} (Host ")
    assert f" as {region}, from {source}; " in finding.seen
    assert finding.seen.endswith(f"the Phase identity's STS endpoint must be {endpoint}")


@pytest.mark.parametrize(
    ("aws", "seen", "fix"),
    [
        ({"stsEndpoint": "https://sts.us-east-2.amazonaws.com", "region": "eu-west-1"},
         "spec.aws.region eu-west-1 but spec.aws.stsEndpoint https://sts.us-east-2.amazonaws.com"
         " is in us-east-2", "remove spec.aws.region or set it to us-east-2"),
        ({"stsEndpoint": "http://sts.eu-west-1.amazonaws.com"},
         "AWS STS endpoint http://sts.eu-west-1.amazonaws.com is not https",
         "use https:// in spec.aws.stsEndpoint"),
    ],
    ids=["region contradicts endpoint", "plain http"],
)
async def test_an_endpoint_that_cannot_be_what_the_spec_means_fails(
    aws: dict[str, str], seen: str, fix: str
) -> None:
    [finding] = await checked({**PER_WORKLOAD, "aws": aws}, check_sts_endpoint)
    assert (finding.verdict, finding.seen) == ("failed", seen)
    assert finding.fix.startswith(fix)
    assert isinstance(finding.error, ConfigurationError)


async def test_azure_signs_no_sts_request() -> None:
    [finding] = await checked(AZURE, check_sts_endpoint)
    assert (finding.check, finding.verdict) == ("sts-endpoint", "n/a")
