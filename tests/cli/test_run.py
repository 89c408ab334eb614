"""``external-identity run``: its flags, their defaults (OperatorSettings' own), and settings the
operator would refuse, refused before it starts."""

from __future__ import annotations

import argparse

import pytest

from external_identity.cli.main import build_parser
from external_identity.cli.run import operator_settings, run
from external_identity.controller.settings import OperatorSettings
from external_identity.errors import ConfigurationError
from tests.cli.running import run_cli


def parse(*flags: str) -> argparse.Namespace:
    return build_parser().parse_args(["run", *flags])


def test_the_defaults_shown_are_the_operator_settings_defaults() -> None:
    args, defaults = parse(), OperatorSettings()
    assert (args.refresh_percent, args.min_remaining_seconds, args.max_concurrent_exchanges,
            args.backoff_base, args.backoff_cap, args.permanent_retry,
            args.restart_min_interval) == (
        defaults.refresh_percent, defaults.min_remaining_seconds,
        defaults.max_concurrent_exchanges, defaults.backoff_base_seconds,
        defaults.backoff_cap_seconds, defaults.permanent_retry_seconds,
        defaults.restart_min_interval_seconds)
    assert (args.namespaces, args.metrics_port, args.binding_selector, args.peering) == (
        [], None, None, None)
    assert not args.watch_service_accounts and not args.restart_on_rotation
    assert args.log_format == "plain"


def test_flags_are_read_as_their_types() -> None:
    args = parse("-n", "team-a", "--namespace", "team-*", "--refresh-percent", "50",
                 "--min-remaining-seconds", "0", "--max-concurrent-exchanges", "4",
                 "--backoff-base", "0.5", "--backoff-cap", "60", "--permanent-retry", "30",
                 "--metrics-port", "9090", "--binding-selector", "shard=a",
                 "--peering", "eio", "--priority", "7", "--watch-service-accounts",
                 "--restart-on-rotation", "--restart-min-interval", "0", "--log-format", "json")
    assert args.namespaces == ["team-a", "team-*"]
    assert (args.refresh_percent, args.min_remaining_seconds, args.max_concurrent_exchanges,
            args.backoff_base, args.backoff_cap, args.permanent_retry, args.metrics_port) == (
        50, 0.0, 4, 0.5, 60.0, 30.0, 9090)
    assert (args.binding_selector, args.peering, args.priority, args.log_format) == (
        "shard=a", "eio", 7, "json")
    assert args.watch_service_accounts and args.restart_on_rotation
    assert args.restart_min_interval == 0.0


@pytest.mark.parametrize(
    ("flags", "message"),
    [
        (("-n", "team-a", "-A"), "not allowed with argument -n/--namespace"),
        (("--refresh-percent", "96"), "'96' must be between 10 and 95"),
        (("--metrics-port", "0"), "'0' must be greater than zero"),
        (("--backoff-base", "0"), "'0' must be greater than zero"),
        (("--min-remaining-seconds", "-1"), "'-1' must not be negative"),
        (("--log-format", "xml"), "invalid choice: 'xml'"),
    ],
)
def test_a_bad_flag_is_a_usage_error(
    capsys: pytest.CaptureFixture[str], flags: tuple[str, ...], message: str
) -> None:
    with pytest.raises(SystemExit) as exited:
        parse(*flags)
    assert exited.value.code == 2
    assert message in capsys.readouterr().err


def test_settings_the_operator_refuses_are_a_configuration_error_before_it_starts() -> None:
    with pytest.raises(ConfigurationError,
                       match="backoff cap must be at least the \\(positive\\) backoff base"):
        run(parse("--backoff-base", "10", "--backoff-cap", "5"))


def test_the_operator_is_named_by_its_flag_else_its_peering_else_the_default() -> None:
    assert operator_settings(parse("--operator-name", "ops/eio", "--peering", "p")).operator_name \
        == "ops/eio"
    assert operator_settings(parse("--peering", "p")).operator_name == "p"
    assert operator_settings(parse()).operator_name == "external-identity-operator"
    assert operator_settings(parse("--heartbeat-seconds", "2")).heartbeat_seconds == 2.0


def test_a_binding_selector_that_does_not_parse_is_refused_before_the_operator_starts() -> None:
    with pytest.raises(ConfigurationError, match="label selector 'shard in \\(a'"):
        operator_settings(parse("--binding-selector", "shard in (a"))


def test_refused_settings_exit_as_a_usage_problem(capsys: pytest.CaptureFixture[str]) -> None:
    result = run_cli(capsys, "run", "--backoff-base", "10", "--backoff-cap", "5")
    assert result.code == 2
    assert result.err.endswith(
        "error: backoff cap must be at least the (positive) backoff base\n")
