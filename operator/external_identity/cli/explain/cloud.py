"""``explain``'s cloud checks: credentials (and which link of the chain found them), the
principal they prove, and the STS endpoint the proof is signed for.

They use the same providers the operator and ``exchange`` use, on this process's own
environment — so run ``explain`` where the operator runs to see what it sees.
"""

from __future__ import annotations

import asyncio
import os
from pathlib import Path
from urllib.parse import urlsplit

from azure.identity.aio import (
    CertificateCredential,
    ClientSecretCredential,
    WorkloadIdentityCredential,
)
from botocore.exceptions import BotoCoreError, ClientError

from external_identity.cli.explain.state import Context, Finding, failed, not_checked, ok
from external_identity.errors import (
    ConfigurationError,
    CredentialsUnavailable,
    ExternalIdentityError,
    redact,
)
from external_identity.exchange.proofs import AWS_IAM
from external_identity.exchange.providers.aws import AwsIamProvider
from external_identity.exchange.providers.azure import AzureProvider, build_azure_credential
from external_identity.exchange.providers.factory import build_provider
from external_identity.exchange.providers.settings import settings_for
from external_identity.exchange.providers.sts_endpoints import region_from_sts_host

__all__ = ["check_credentials", "check_principal", "check_sts_endpoint"]

CREDENTIALS, PRINCIPAL, STS = "credentials", "principal", "sts-endpoint"
_RUN_WHERE = (
    "run explain where the operator runs (kubectl exec deploy/external-identity-operator -- "
    "external-identity explain ...): it checks this process's own credentials"
)
_AWS_SETUP = (
    "give the operator's pod AWS credentials: IRSA (eks.amazonaws.com/role-arn on its "
    "ServiceAccount), EKS Pod Identity, or AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY"
)
_AWS_SOURCES = {
    "env": "environment variables (AWS_ACCESS_KEY_ID)",
    "assume-role-with-web-identity": "the web identity token file (IRSA)",
    "container-role": "the container credentials endpoint (EKS Pod Identity / ECS)",
    "iam-role": "the instance metadata service (the node's instance profile: is IRSA or "
    "Pod Identity set up for the operator's ServiceAccount?)",
    "shared-credentials-file": "the shared credentials file",
    "config-file": "the AWS config file",
    "assume-role": "an assume-role profile",
    "sso": "AWS IAM Identity Center (SSO)",
    "custom-process": "a credential_process",
}
_AWS_DETAILS = ("AWS_WEB_IDENTITY_TOKEN_FILE", "AWS_ROLE_ARN", "AWS_CONTAINER_CREDENTIALS_FULL_URI",
                "AWS_PROFILE")


def _per_workload(ctx: Context, check: str) -> Finding:
    return not_checked(
        check,
        f"credentials.source ServiceAccount: the operator exchanges a Kubernetes token of the "
        f"binding's ServiceAccount at {'AWS STS' if ctx.spec().provider == AWS_IAM else 'Entra'}"
        "; explain does not request such tokens, so it checks only what needs none",
    )


def _failure(check: str, error: ExternalIdentityError, fix: str) -> Finding:
    return failed(check, str(error), fix, error)


async def check_credentials(ctx: Context) -> Finding:
    if ctx.per_workload:
        return _per_workload(ctx, CREDENTIALS)
    spec = ctx.spec()
    settings = settings_for(spec)
    try:
        if spec.provider == AWS_IAM:
            provider = build_provider(settings)
            assert isinstance(provider, AwsIamProvider)
            ctx.provider = provider
            frozen = await asyncio.to_thread(provider.frozen_credentials)
            method = provider.credential_source() or "unknown"
            details = [f"{key}={os.environ[key]}" for key in _AWS_DETAILS if os.environ.get(key)]
            kind = "temporary" if frozen.token else "long-lived"
            return ok(CREDENTIALS, f"AWS, {kind}, from {_AWS_SOURCES.get(method, method)} "
                      f"(botocore: {method}){': ' + ', '.join(details) if details else ''}")
        credential = build_azure_credential(
            environ=os.environ, tenant_id=settings.azure_tenant_id,
            client_id=settings.azure_client_id, authority=settings.azure_authority_host,
        )
        ctx.provider = AzureProvider(credential=credential, resource=settings.azure_resource)
    except ConfigurationError as error:
        return _failure(CREDENTIALS, error, "fix the identity's aws/azure settings named above")
    except CredentialsUnavailable as error:
        return _failure(CREDENTIALS, error, f"{_AWS_SETUP if spec.provider == AWS_IAM else ''}"
                        f"; {_RUN_WHERE}".lstrip("; "))
    return _azure_source(credential, settings.azure_client_id or os.environ.get("AZURE_CLIENT_ID"))


def _azure_source(credential: object, client: str | None) -> Finding:
    if isinstance(credential, WorkloadIdentityCredential):
        path = Path(os.environ.get("AZURE_FEDERATED_TOKEN_FILE", ""))
        if not path.is_file() or path.stat().st_size == 0:
            error = CredentialsUnavailable(f"federated token file {path} is missing or empty")
            return _failure(CREDENTIALS, error,
                            "label the pod azure.workload.identity/use=true and annotate its "
                            "ServiceAccount with azure.workload.identity/client-id, so the "
                            f"webhook projects the token; {_RUN_WHERE}")
        return ok(CREDENTIALS, f"Azure workload identity: federated token file {path} "
                  f"(AZURE_FEDERATED_TOKEN_FILE), client {client or '?'}")
    if isinstance(credential, ClientSecretCredential | CertificateCredential):
        return ok(CREDENTIALS, f"Azure service principal from the environment, client {client}")
    return ok(CREDENTIALS, "Azure managed identity (nothing else configured: no "
              "AZURE_FEDERATED_TOKEN_FILE, no client secret); the principal check asks it")


def _trust_hint(arn: str) -> str:
    parts = arn.split(":", 5)
    if len(parts) == 6 and parts[2] == "sts" and parts[5].startswith("assumed-role/"):
        role = parts[5].split("/")[1]
        return f"; trust arn:aws:sts::{parts[4]}:assumed-role/{role}/* in the Phase identity"
    return "; trust it in the Phase identity"


async def check_principal(ctx: Context) -> Finding:
    if ctx.per_workload:
        return _per_workload(ctx, PRINCIPAL)
    provider = ctx.provider
    if isinstance(provider, AwsIamProvider):
        where = provider.target.endpoint
        try:
            arn = await asyncio.to_thread(provider.lookup_caller_arn)
        except (BotoCoreError, ClientError) as raw:
            error = CredentialsUnavailable(
                f"GetCallerIdentity at {where} failed: {type(raw).__name__}: {redact(str(raw))}"
            )
            return _failure(PRINCIPAL, error,
                            f"check that the credentials are current and that {where} is "
                            "reachable from here (VPC endpoint, egress proxy)")
        if arn is None:
            error = CredentialsUnavailable(f"GetCallerIdentity at {where} named no ARN")
            return _failure(PRINCIPAL, error, f"check that {where} is an AWS STS endpoint")
        ctx.principal = arn
        return ok(PRINCIPAL, f"{arn} (GetCallerIdentity at {where}){_trust_hint(arn)}")
    assert provider is not None, "the credentials check runs first"
    try:
        proof = await provider.proof()
    except CredentialsUnavailable as error:
        return _failure(PRINCIPAL, error, "check the app registration's federated credential "
                        "(issuer, subject) and the tenant; " + _RUN_WHERE)
    ctx.principal = proof.principal
    return ok(PRINCIPAL, f"Entra object ID (oid) {proof.principal}; allow it as a service "
              "principal ID in the Phase identity")


async def check_sts_endpoint(ctx: Context) -> Finding:
    spec = ctx.spec()
    if spec.provider != AWS_IAM:
        return not_checked(STS, "provider azure signs no STS request", applicable=False)
    if ctx.provider is None:
        ctx.provider = build_provider(settings_for(spec))
    assert isinstance(ctx.provider, AwsIamProvider)
    target = ctx.provider.target
    parts = urlsplit(target.endpoint)
    stated = region_from_sts_host(parts.netloc)
    region = spec.aws.region if spec.aws else None
    if stated and region and stated != region:
        error = ConfigurationError(
            f"spec.aws.region {region} but spec.aws.stsEndpoint {target.endpoint} is in {stated}"
        )
        return _failure(STS, error, f"remove spec.aws.region or set it to {stated}: the "
                        "signature is scoped to the endpoint's own region")
    if stated and parts.scheme != "https":
        error = ConfigurationError(f"AWS STS endpoint {target.endpoint} is not https")
        return _failure(STS, error, "use https:// in spec.aws.stsEndpoint")
    source = ("its host" if stated else "spec.aws.region" if region
              else "this environment's AWS region or the us-east-1 default")
    return ok(STS, f"signs GetCallerIdentity for {target.endpoint} (Host {target.host}) as "
              f"{target.region}, from {source}; the Phase identity's STS endpoint must be "
              f"{target.endpoint}")
