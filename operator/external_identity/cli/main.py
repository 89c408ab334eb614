"""The ``external-identity`` command line: ``exchange`` (one shot), ``run`` (operator), ``explain``.

Each sub-command's flags and handler live in :mod:`~external_identity.cli.exchange` and
:mod:`~external_identity.cli.run`; this module builds the parser, runs the chosen handler and
turns our errors into a message on stderr and an exit code.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence

from external_identity import __version__
from external_identity.cli.exchange import add_exchange_parser
from external_identity.cli.explain.command import add_explain_parser
from external_identity.cli.logsetup import LOG_LEVELS, configure_logging, log_level
from external_identity.cli.run import add_run_parser
from external_identity.errors import (
    ConfigurationError,
    CredentialsUnavailable,
    ExternalIdentityError,
    RequestRejected,
    SecretWriteError,
    TransientError,
    UntrustedPrincipal,
)

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


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="external-identity",
        description="Keyless, short-lived service tokens for Kubernetes workloads.",
    )
    parser.add_argument("--version", action="version", version=f"%(prog)s {__version__}")
    parser.add_argument(
        "--log-level", type=log_level, choices=LOG_LEVELS, metavar="LEVEL",
        help="log verbosity, in any case: debug, info, warning or error (default: warning; "
        "info for `run`)",
    )
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    add_exchange_parser(commands)
    add_run_parser(commands)
    add_explain_parser(commands)
    return parser


def exit_code_for(error: ExternalIdentityError) -> int:
    for error_type, code in EXIT_CODES:
        if isinstance(error, error_type):
            return code
    return EXIT_OTHER


def _failure_lines(error: ExternalIdentityError) -> list[str]:
    """What stderr says about a failure: the error, then the principal to trust if refused."""
    lines = [f"error: {error}"]
    if isinstance(error, UntrustedPrincipal) and error.principal:
        lines.append(f"principal: {' '.join(error.principal.split())}")
    return lines


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    level = args.log_level or ("INFO" if args.command == "run" else "WARNING")
    configure_logging(level, fmt=getattr(args, "log_format", "plain"))
    try:
        code: int = args.handler(args)
    except ExternalIdentityError as error:
        for line in _failure_lines(error):
            print(line, file=sys.stderr)
        return exit_code_for(error)
    except KeyboardInterrupt:
        return 130
    return code


if __name__ == "__main__":
    sys.exit(main())
