"""The ``external-identity`` entry point: sub-commands, errors as one stderr line and an exit
code per failure class, and the log level it sets up."""

from __future__ import annotations

import logging
from collections.abc import Iterator

import pytest

from external_identity import __version__
from external_identity.cli.exchange import exchange
from external_identity.cli.explain.command import explain
from external_identity.cli.main import EXIT_OTHER, build_parser, exit_code_for, main
from external_identity.cli.run import run
from external_identity.errors import (
    ConfigurationError,
    CredentialsUnavailable,
    EndpointMismatch,
    ExternalIdentityError,
    KubernetesApiError,
    NamespaceTerminating,
    RateLimited,
    RequestRejected,
    SecretConflict,
    StatusWriteError,
    Unavailable,
    UntrustedPrincipal,
)
from tests.cli.running import run_cli

SA = "0f1a2b3c-4d5e-6789-abcd-ef0123456789"


@pytest.mark.parametrize(
    ("error", "code"),
    [
        (ConfigurationError("x"), 2),
        (CredentialsUnavailable("x"), 3),
        (RequestRejected("x"), 4),
        (UntrustedPrincipal("x"), 4),
        (EndpointMismatch("x"), 4),
        (RateLimited("x"), 5),
        (Unavailable("x"), 5),
        (SecretConflict("x"), 6),
        (NamespaceTerminating("x"), 6),
        (StatusWriteError("x"), EXIT_OTHER),
        (KubernetesApiError("x"), EXIT_OTHER),
        (ExternalIdentityError("x"), EXIT_OTHER),
    ],
    ids=lambda value: type(value).__name__ if isinstance(value, Exception) else str(value),
)
def test_each_failure_class_has_its_exit_code(error: ExternalIdentityError, code: int) -> None:
    assert exit_code_for(error) == code


@pytest.mark.parametrize(
    ("argv", "handler"),
    [(["run"], run), (["explain"], explain),
     (["exchange", "--mode", "azure", "--service-account-id", SA, "--no-store"], exchange)],
)
def test_each_sub_command_runs_its_own_handler(argv: list[str], handler: object) -> None:
    assert build_parser().parse_args(argv).handler is handler


def test_a_sub_command_is_required(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exited:
        build_parser().parse_args([])
    assert exited.value.code == 2
    assert "the following arguments are required: COMMAND" in capsys.readouterr().err


def test_version_prints_the_package_version(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exited:
        main(["--version"])
    assert exited.value.code == 0
    assert capsys.readouterr().out == f"external-identity {__version__}\n"


def test_our_error_is_one_line_on_stderr_and_its_exit_code(
    capsys: pytest.CaptureFixture[str],
) -> None:
    result = run_cli(capsys, "exchange", "--mode", "aws-iam", "--service-account-id", SA,
                     "--no-store", "--audience", "sts.amazonaws.com")
    assert result.code == 2
    assert result.err == "error: --audience applies only with --service-account\n"
    assert result.out == ""


@pytest.fixture
def our_log_level() -> Iterator[logging.Logger]:
    """The package's logger, its level put back afterwards (main sets it)."""
    logger = logging.getLogger("external_identity")
    level = logger.level
    yield logger
    logger.setLevel(level)


@pytest.mark.parametrize(("flags", "level"), [((), logging.WARNING),
                                              (("--log-level", "DEBUG"), logging.DEBUG)])
def test_a_one_shot_command_logs_warnings_unless_told_otherwise(
    capsys: pytest.CaptureFixture[str], our_log_level: logging.Logger, flags: tuple[str, ...],
    level: int,
) -> None:
    our_log_level.setLevel(logging.NOTSET)
    run_cli(capsys, *flags, "exchange", "--mode", "aws-iam", "--service-account-id", SA,
            "--no-store", "--audience", "x")
    assert our_log_level.level == level
