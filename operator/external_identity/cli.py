"""The ``external-identity`` command line: ``exchange`` (one shot) and ``run`` (operator)."""

from __future__ import annotations

import argparse
import asyncio
import os
import random
import sys
import uuid
from collections.abc import Sequence

from . import __version__
from .controller.settings import OperatorSettings
from .errors import (
    ConfigurationError,
    CredentialsUnavailable,
    ExternalIdentityError,
    RequestRejected,
    SecretWriteError,
    TransientError,
)
from .logsetup import LOG_FORMATS, LOG_LEVELS, configure_logging
from .oneshot import ExchangeRequest, run_exchange
from .providers.azure import DEFAULT_RESOURCE
from .providers.factory import ProviderSettings
from .secretwriter import SecretKeys
from .tokenservice import CONSOLE_PATH_PREFIX, DEFAULT_HOST, DEFAULT_TIMEOUT, TokenServiceEndpoint

__all__ = ["EXIT_CODES", "main"]

#: Exit codes by failure class, most specific first.
EXIT_CODES: tuple[tuple[type[ExternalIdentityError], int], ...] = (
    (ConfigurationError, 2),
    (CredentialsUnavailable, 3),
    (RequestRejected, 4),
    (TransientError, 5),
    (SecretWriteError, 6),
)
EXIT_OTHER = 1


def _uuid(value: str) -> str:
    try:
        return str(uuid.UUID(value))
    except ValueError:
        raise argparse.ArgumentTypeError(f"{value!r} is not a UUID") from None


def _positive_int(value: str) -> int:
    try:
        number = int(value)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{value!r} is not a whole number") from None
    if number <= 0:
        raise argparse.ArgumentTypeError(f"{value!r} must be greater than zero")
    return number


def _positive_float(value: str) -> float:
    try:
        number = float(value)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{value!r} is not a number") from None
    if number <= 0:
        raise argparse.ArgumentTypeError(f"{value!r} must be greater than zero")
    return number


def _secret_ref(value: str) -> tuple[str, str]:
    namespace, sep, name = value.partition("/")
    if not sep or not namespace or not name or "/" in name:
        raise argparse.ArgumentTypeError(f"{value!r} is not NAMESPACE/NAME")
    return namespace, name


def _add_exchange_parser(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
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
        "--service-account-id", required=True, type=_uuid, metavar="UUID",
        help="the token service's service account that has this external identity bound",
    )
    parser.add_argument(
        "--host", default=os.environ.get("PHASE_HOST", DEFAULT_HOST),
        help="token service URL (default: $PHASE_HOST or %(default)s)",
    )
    parser.add_argument(
        "--path-prefix", default=CONSOLE_PATH_PREFIX,
        help="path prefix of the API below --host; '' for the API-host form "
        "(default: %(default)s, the console form)",
    )
    parser.add_argument(
        "--ttl", type=_positive_int, metavar="SECONDS",
        help="requested token lifetime (default: the identity's default TTL)",
    )
    target = parser.add_mutually_exclusive_group(required=True)
    target.add_argument(
        "--no-store", action="store_true",
        help="print the token and its metadata as JSON to stdout instead of storing it",
    )
    target.add_argument(
        "--secret", type=_secret_ref, metavar="NAMESPACE/NAME",
        help="write the token into this Kubernetes Secret (created if absent; an existing "
        "Secret not written by this tool is never touched)",
    )
    parser.add_argument(
        "--secret-key", default="token", metavar="KEY",
        help="data key that holds the token in the Secret (default: %(default)s)",
    )
    parser.add_argument(
        "--kubeconfig", help="kubeconfig file (default: $KUBECONFIG or ~/.kube/config)"
    )
    parser.add_argument("--context", help="kubeconfig context (default: the current context)")
    parser.add_argument(
        "--azure-resource", default=DEFAULT_RESOURCE, metavar="URI",
        help="Azure only: resource/audience of the Entra token (default: %(default)s)",
    )
    parser.add_argument(
        "--azure-tenant-id", type=_uuid, metavar="UUID",
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
    parser.add_argument("--ca-bundle", metavar="PEM", help="extra CA bundle for the token service")
    parser.add_argument(
        "--timeout", type=_positive_float, default=DEFAULT_TIMEOUT, metavar="SECONDS",
        help="token service request timeout (default: %(default)s)",
    )
    parser.set_defaults(handler=_exchange)


def _exchange(args: argparse.Namespace) -> int:
    request = ExchangeRequest(
        provider=ProviderSettings(
            provider=args.mode,
            aws_region=args.region,
            aws_sts_endpoint=args.sts_endpoint,
            azure_tenant_id=args.azure_tenant_id,
            azure_resource=args.azure_resource,
            azure_authority_host=args.azure_authority_host,
        ),
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


def _percent(value: str) -> int:
    number = _positive_int(value)
    if not 10 <= number <= 95:
        raise argparse.ArgumentTypeError(f"{value!r} must be between 10 and 95")
    return number


def _non_negative_float(value: str) -> float:
    try:
        number = float(value)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{value!r} is not a number") from None
    if not number >= 0:
        raise argparse.ArgumentTypeError(f"{value!r} must not be negative")
    return number


def _add_run_parser(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    parser = commands.add_parser(
        "run",
        help="run the operator: keep every ServiceAccountBinding's Secret holding a fresh token",
        description=(
            "Run the controller against the cluster of the in-cluster service account or "
            "the current kubeconfig. Watches ExternalIdentity and ServiceAccountBinding "
            "resources and keeps each binding's Secret filled with a valid token."
        ),
    )
    scope = parser.add_mutually_exclusive_group()
    scope.add_argument(
        "-n", "--namespace", action="append", default=[], dest="namespaces", metavar="NS",
        help="watch bindings only in this namespace (repeatable; globs like 'team-*' allowed)",
    )
    scope.add_argument(
        "-A", "--all-namespaces", action="store_true",
        help="watch bindings in all namespaces (the default)",
    )
    parser.add_argument(
        "--peering", metavar="NAME",
        help="kopf peering object for high availability: only the highest-priority replica "
        "acts (default: standalone, for a single replica)",
    )
    parser.add_argument(
        "--priority", type=int,
        help="this replica's peering priority; replicas sharing the top priority all pause, "
        "so the default with --peering is a random one per process",
    )
    parser.add_argument(
        "--log-level", default=argparse.SUPPRESS, choices=LOG_LEVELS,
        help="log verbosity (same as the global --log-level)",
    )
    parser.add_argument(
        "--log-format", default="plain", choices=LOG_FORMATS,
        help="plain text, one JSON object per line, or plain with source locations "
        "(default: %(default)s)",
    )
    parser.add_argument(
        "--liveness", metavar="URL",
        help="serve a liveness endpoint, e.g. http://0.0.0.0:8080/healthz",
    )
    parser.add_argument(
        "--metrics-port", type=_positive_int, metavar="PORT",
        help="serve Prometheus metrics on this port (default: off)",
    )
    defaults = OperatorSettings()
    parser.add_argument(
        "--refresh-percent", type=_percent, default=defaults.refresh_percent, metavar="PERCENT",
        help="refresh tokens once this percentage of their granted TTL has passed, unless a "
        "binding sets spec.refreshPolicy.refreshAtPercent (default: %(default)s)",
    )
    parser.add_argument(
        "--min-remaining-seconds", type=_non_negative_float,
        default=defaults.min_remaining_seconds, metavar="SECONDS",
        help="never refresh later than this before expiry, unless a binding sets "
        "spec.refreshPolicy.minRemainingSeconds (default: %(default)s)",
    )
    parser.add_argument(
        "--max-concurrent-exchanges", type=_positive_int,
        default=defaults.max_concurrent_exchanges, metavar="N",
        help="at most N exchanges in flight toward token services (default: %(default)s)",
    )
    parser.add_argument(
        "--backoff-base", type=_positive_float, default=defaults.backoff_base_seconds,
        metavar="SECONDS",
        help="first retry delay after a transient failure (default: %(default)s)",
    )
    parser.add_argument(
        "--backoff-cap", type=_positive_float, default=defaults.backoff_cap_seconds,
        metavar="SECONDS",
        help="longest retry delay after transient failures (default: %(default)s)",
    )
    parser.add_argument(
        "--permanent-retry", type=_positive_float, default=defaults.permanent_retry_seconds,
        metavar="SECONDS",
        help="retry delay after the token service refuses a request (default: %(default)s)",
    )
    parser.set_defaults(handler=_run)


def _run(args: argparse.Namespace) -> int:
    from .controller.running import RunOptions, run_operator

    try:
        settings = OperatorSettings(
            namespaces=tuple(args.namespaces),
            refresh_percent=args.refresh_percent,
            min_remaining_seconds=args.min_remaining_seconds,
            max_concurrent_exchanges=args.max_concurrent_exchanges,
            backoff_base_seconds=args.backoff_base,
            backoff_cap_seconds=args.backoff_cap,
            permanent_retry_seconds=args.permanent_retry,
            metrics_port=args.metrics_port,
        )
    except ValueError as error:
        raise ConfigurationError(str(error)) from None
    priority = args.priority
    if priority is None:
        priority = random.SystemRandom().randint(1, 1_000_000) if args.peering else 0
    run_operator(
        RunOptions(
            settings=settings,
            peering_name=args.peering,
            priority=priority,
            liveness_endpoint=args.liveness,
        )
    )
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="external-identity",
        description="Keyless, short-lived service tokens for Kubernetes workloads.",
    )
    parser.add_argument("--version", action="version", version=f"%(prog)s {__version__}")
    parser.add_argument(
        "--log-level", choices=LOG_LEVELS,
        help="log verbosity (default: WARNING; INFO for `run`)",
    )
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    _add_exchange_parser(commands)
    _add_run_parser(commands)
    return parser


def exit_code_for(error: ExternalIdentityError) -> int:
    for error_type, code in EXIT_CODES:
        if isinstance(error, error_type):
            return code
    return EXIT_OTHER


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    level = args.log_level or ("INFO" if args.command == "run" else "WARNING")
    configure_logging(level, fmt=getattr(args, "log_format", "plain"))
    try:
        code: int = args.handler(args)
    except ExternalIdentityError as error:
        print(f"error: {error}", file=sys.stderr)
        return exit_code_for(error)
    except KeyboardInterrupt:
        return 130
    return code


if __name__ == "__main__":
    sys.exit(main())
