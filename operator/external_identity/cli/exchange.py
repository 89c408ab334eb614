"""The ``external-identity exchange`` sub-command: its flags, and one exchange run from them."""

from __future__ import annotations

import argparse
import asyncio
import os
import sys

from external_identity.api import defaults
from external_identity.cli.args import (
    add_cluster_flags,
    positive_float,
    positive_int,
    secret_ref,
    service_account_ref,
    uuid_text,
)
from external_identity.cli.oneshot import ExchangeRequest, run_exchange
from external_identity.errors import ConfigurationError
from external_identity.exchange.client import (
    TokenServiceEndpoint,
)
from external_identity.exchange.providers.settings import ProviderSettings
from external_identity.secrets.data import SecretKeys

__all__ = ["add_exchange_parser", "exchange"]


def add_exchange_parser(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    parser = commands.add_parser(
        "exchange",
        help="exchange this machine's cloud identity for a service token, once",
        description=(
            "Prove this workload's AWS IAM or Azure identity to the token service and "
            "receive a short-lived service token. By default the token is written into "
            "a Kubernetes Secret (--secret) using the current kubeconfig; with "
            "--no-store it is printed as JSON instead."
        ),
    )
    parser.add_argument(
        "--mode", required=True, choices=["aws-iam", "azure"],
        help="which cloud identity to prove: aws-iam (SigV4-signed STS GetCallerIdentity) "
        "or azure (Entra access token)",
    )
    parser.add_argument(
        "--service-account-id", required=True, type=uuid_text, metavar="UUID",
        help="the token service's service account that has this external identity bound",
    )
    parser.add_argument(
        "--host", default=os.environ.get("PHASE_HOST", defaults.TOKEN_SERVICE_HOST),
        help="token service URL (default: $PHASE_HOST or %(default)s)",
    )
    parser.add_argument(
        "--path-prefix", default=defaults.CONSOLE_PATH_PREFIX,
        help="path prefix of the API below --host; '' for the API-host form "
        "(default: %(default)s, the console form)",
    )
    parser.add_argument(
        "--ttl", type=positive_int, metavar="SECONDS",
        help="requested token lifetime (default: the identity's default TTL)",
    )
    target = parser.add_mutually_exclusive_group(required=True)
    target.add_argument(
        "--no-store", action="store_true",
        help="print the token and its metadata as JSON to stdout instead of storing it",
    )
    target.add_argument(
        "--secret", type=secret_ref, metavar="NAMESPACE/NAME",
        help="write the token into this Kubernetes Secret (created if absent; an existing "
        "Secret not written by this tool is never touched)",
    )
    parser.add_argument(
        "--secret-key", default="token", metavar="KEY",
        help="data key that holds the token in the Secret (default: %(default)s)",
    )
    add_cluster_flags(parser)
    parser.add_argument(
        "--azure-resource", default=defaults.AZURE_RESOURCE, metavar="URI",
        help="Azure only: resource/audience of the Entra token (default: %(default)s)",
    )
    parser.add_argument(
        "--azure-tenant-id", type=uuid_text, metavar="UUID",
        help="Azure only: tenant (default: $AZURE_TENANT_ID)",
    )
    parser.add_argument(
        "--azure-authority-host", metavar="URL",
        help="Azure only: Entra login host (default: $AZURE_AUTHORITY_HOST or the public cloud)",
    )
    parser.add_argument(
        "--region",
        help="AWS only: without --sts-endpoint, sign for that region's endpoint "
        "https://sts.REGION.amazonaws.com (us-east-1 too; .com.cn in China); with an "
        "--sts-endpoint whose host names no region (a private DNS name), the signing region. "
        "The pod's AWS_REGION never picks the endpoint",
    )
    parser.add_argument(
        "--sts-endpoint", metavar="URL",
        help="AWS only: the STS endpoint the token service's external identity is configured "
        "with; the signing region is read from its host (sts.REGION.amazonaws.com, "
        "sts-fips.…, …amazonaws.com.cn, sts.REGION.api.aws, VPC endpoints) and wins over "
        "--region (default: https://sts.REGION.amazonaws.com with --region, else the global "
        "https://sts.amazonaws.com, signed as us-east-1)",
    )
    parser.add_argument(
        "--service-account", type=service_account_ref, metavar="NAMESPACE/NAME",
        help="prove this Kubernetes ServiceAccount's identity instead of this machine's "
        "(per-workload identity, as credentials.source ServiceAccount): a TokenRequest "
        "through the kubeconfig, exchanged at STS AssumeRoleWithWebIdentity for the role in "
        "its eks.amazonaws.com/role-arn annotation (aws-iam) or at Entra for the client in "
        "its azure.workload.identity/client-id annotation (azure)",
    )
    parser.add_argument(
        "--audience", metavar="AUDIENCE",
        help="with --service-account: the token's audience (default: sts.amazonaws.com, "
        "or api://AzureADTokenExchange for azure)",
    )
    parser.add_argument("--ca-bundle", metavar="PEM", help="extra CA bundle for the token service")
    parser.add_argument(
        "--timeout", type=positive_float, default=defaults.TOKEN_SERVICE_TIMEOUT, metavar="SECONDS",
        help="token service request timeout (default: %(default)s)",
    )
    parser.set_defaults(handler=exchange)


def exchange(args: argparse.Namespace) -> int:
    """One exchange from the parsed flags; the token goes to a Secret or to stdout."""
    workload = args.service_account is not None
    if args.audience is not None and not workload:
        raise ConfigurationError("--audience applies only with --service-account")
    request = ExchangeRequest(
        provider=ProviderSettings(
            provider=args.mode,
            aws_region=args.region,
            aws_sts_endpoint=args.sts_endpoint,
            # A ServiceAccount's own annotations win; these are its fallbacks.
            azure_tenant_id=args.azure_tenant_id
            or (os.environ.get("AZURE_TENANT_ID") if workload else None),
            azure_resource=args.azure_resource,
            azure_authority_host=args.azure_authority_host
            or (os.environ.get("AZURE_AUTHORITY_HOST") if workload else None),
        ),
        service_account=args.service_account,
        audience=args.audience,
        endpoint=TokenServiceEndpoint(host=args.host, path_prefix=args.path_prefix),
        service_account_id=args.service_account_id,
        ttl=args.ttl,
        ca_bundle=args.ca_bundle,
        timeout=args.timeout,
        secret=args.secret,
        secret_keys=SecretKeys(token=args.secret_key),
        kubeconfig=args.kubeconfig,
        context=args.context,
    )
    asyncio.run(run_exchange(request, out=sys.stdout))
    return 0
