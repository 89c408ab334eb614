"""The ``external-identity run`` sub-command: its flags, and the operator started from them."""

from __future__ import annotations

import argparse
import random

from external_identity.cli.args import (
    add_cluster_flags,
    non_negative_float,
    percent,
    positive_float,
    positive_int,
)
from external_identity.cli.logsetup import LOG_FORMATS, LOG_LEVELS, log_level
from external_identity.controller.settings import OperatorSettings
from external_identity.errors import ConfigurationError

__all__ = ["add_run_parser", "operator_settings", "run"]


def add_run_parser(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    parser = commands.add_parser(
        "run",
        help="run the operator: keep every ServiceAccountBinding's Secret holding a fresh token",
        description=(
            "Run the controller against the cluster of the in-cluster service account or "
            "the current kubeconfig (or --kubeconfig/--context). Watches ExternalIdentity and "
            "ServiceAccountBinding resources and keeps each binding's Secret filled with a "
            "valid token."
        ),
    )
    add_cluster_flags(
        parser, default="the in-cluster service account, else $KUBECONFIG or ~/.kube/config"
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
        "--operator-name", metavar="NAME",
        help="this operator's name in each ExternalIdentity's status.operators, shared by its "
        "replicas and unique per release (default: the --peering name, else "
        f"{OperatorSettings().operator_name})",
    )
    parser.add_argument(  # for tests: how fast a stopped operator's entry goes stale
        "--heartbeat-seconds", type=positive_float, default=OperatorSettings().heartbeat_seconds,
        help=argparse.SUPPRESS,
    )
    parser.add_argument(
        "--priority", type=int,
        help="this replica's peering priority; replicas sharing the top priority all pause, "
        "so the default with --peering is a random one per process",
    )
    parser.add_argument(
        "--log-level", default=argparse.SUPPRESS, type=log_level, choices=LOG_LEVELS,
        metavar="LEVEL", help="log verbosity (same as the global --log-level)",
    )
    parser.add_argument(
        "--log-format", default="plain", choices=LOG_FORMATS,
        help="plain text, one JSON object per line (UTC RFC 3339 time, level, logger, "
        "message, and kind/namespace/name of the object a line is about), or plain with "
        "source locations (default: %(default)s)",
    )
    parser.add_argument(
        "--liveness", metavar="URL",
        help="serve a liveness endpoint, e.g. http://0.0.0.0:8080/healthz",
    )
    parser.add_argument(
        "--metrics-port", type=positive_int, metavar="PORT",
        help="serve Prometheus metrics on this port (default: off)",
    )
    defaults = OperatorSettings()
    parser.add_argument(
        "--refresh-percent", type=percent, default=defaults.refresh_percent, metavar="PERCENT",
        help="refresh tokens once this percentage of their granted TTL has passed, unless a "
        "binding sets spec.refreshPolicy.refreshAtPercent (default: %(default)s)",
    )
    parser.add_argument(
        "--min-remaining-seconds", type=non_negative_float,
        default=defaults.min_remaining_seconds, metavar="SECONDS",
        help="never refresh later than this before expiry, unless a binding sets "
        "spec.refreshPolicy.minRemainingSeconds (default: %(default)s)",
    )
    parser.add_argument(
        "--max-concurrent-exchanges", type=positive_int,
        default=defaults.max_concurrent_exchanges, metavar="N",
        help="at most N exchanges in flight toward token services (default: %(default)s)",
    )
    parser.add_argument(
        "--backoff-base", type=positive_float, default=defaults.backoff_base_seconds,
        metavar="SECONDS",
        help="first retry delay after a transient failure (default: %(default)s)",
    )
    parser.add_argument(
        "--backoff-cap", type=positive_float, default=defaults.backoff_cap_seconds,
        metavar="SECONDS",
        help="longest retry delay after transient failures (default: %(default)s)",
    )
    parser.add_argument(
        "--permanent-retry", type=positive_float, default=defaults.permanent_retry_seconds,
        metavar="SECONDS",
        help="retry delay after the token service refuses a request (default: %(default)s)",
    )
    parser.add_argument(
        "--binding-selector", metavar="SELECTOR",
        help="keep only bindings with these labels (a Kubernetes label selector, e.g. "
        "'shard=a'), to split a large cluster over several operators; where two operators' "
        "scopes overlap, the one registered first on the identity serves the binding",
    )
    parser.add_argument(
        "--watch-service-accounts", action="store_true",
        help="watch ServiceAccounts so per-workload (credentials.source: ServiceAccount) "
        "credentials of a deleted or re-annotated one are dropped at once; needs list and "
        "watch on serviceaccounts (default: re-read each ServiceAccount within a minute)",
    )
    parser.add_argument(
        "--restart-on-rotation", action="store_true",
        help="roll Deployments, StatefulSets and DaemonSets labelled "
        "externalidentity.dev/restart-on-rotation=true when a binding named in their "
        "annotation of the same key gets a new token (pod template annotation "
        "externalidentity.dev/token-fingerprint); needs list, watch and patch on them "
        "(default: off)",
    )
    parser.add_argument(
        "--restart-min-interval", type=non_negative_float,
        default=defaults.restart_min_interval_seconds, metavar="SECONDS",
        help="restart one workload at most this often; a rotation inside the interval is "
        "applied when it ends (default: %(default)s)",
    )
    parser.set_defaults(handler=run)


def operator_settings(args: argparse.Namespace) -> OperatorSettings:
    """The settings the flags ask for; ConfigurationError for ones the operator refuses."""
    try:
        return OperatorSettings(
            operator_name=args.operator_name or args.peering or OperatorSettings().operator_name,
            heartbeat_seconds=args.heartbeat_seconds,
            namespaces=tuple(args.namespaces),
            refresh_percent=args.refresh_percent,
            min_remaining_seconds=args.min_remaining_seconds,
            max_concurrent_exchanges=args.max_concurrent_exchanges,
            backoff_base_seconds=args.backoff_base,
            backoff_cap_seconds=args.backoff_cap,
            permanent_retry_seconds=args.permanent_retry,
            metrics_port=args.metrics_port,
            watch_service_accounts=args.watch_service_accounts,
            restart_on_rotation=args.restart_on_rotation,
            restart_min_interval_seconds=args.restart_min_interval,
            binding_selector=args.binding_selector or None,
        )
    except ValueError as error:
        raise ConfigurationError(str(error)) from None


def run(args: argparse.Namespace) -> int:
    """Run the operator with the parsed flags until it is stopped."""
    from external_identity.controller.running import RunOptions, run_operator

    settings = operator_settings(args)
    priority = args.priority
    if priority is None:
        priority = random.SystemRandom().randint(1, 1_000_000) if args.peering else 0
    run_operator(
        RunOptions(
            settings=settings,
            peering_name=args.peering,
            priority=priority,
            liveness_endpoint=args.liveness,
            kubeconfig=args.kubeconfig,
            context=args.context,
        )
    )
    return 0
