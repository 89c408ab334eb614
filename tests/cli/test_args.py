"""The command line's argument types: text in, a checked value out, or a usage error."""

from __future__ import annotations

import argparse
from collections.abc import Callable
from typing import Any

import pytest

from external_identity.cli.args import (
    non_negative_float,
    percent,
    positive_float,
    positive_int,
    secret_ref,
    service_account_ref,
    uuid_text,
)

UUID = "0f1a2b3c-4d5e-6789-abcd-ef0123456789"


@pytest.mark.parametrize(
    ("convert", "text", "expected"),
    [
        (uuid_text, UUID, UUID),
        (uuid_text, UUID.upper(), UUID),
        (uuid_text, UUID.replace("-", ""), UUID),
        (positive_int, "1", 1),
        (positive_int, "3600", 3600),
        (positive_float, "0.5", 0.5),
        (positive_float, "15", 15.0),
        (non_negative_float, "0", 0.0),
        (non_negative_float, "2.5", 2.5),
        (percent, "10", 10),
        (percent, "95", 95),
        (secret_ref, "payments/phase-token", ("payments", "phase-token")),
        (service_account_ref, "payments/api.v2", ("payments", "api.v2")),
    ],
)
def test_a_good_value_is_converted(
    convert: Callable[[str], Any], text: str, expected: object
) -> None:
    assert convert(text) == expected


@pytest.mark.parametrize(
    ("convert", "text", "message"),
    [
        (uuid_text, "payments", "'payments' is not a UUID"),
        (positive_int, "1.5", "'1.5' is not a whole number"),
        (positive_int, "0", "'0' must be greater than zero"),
        (positive_int, "-3", "'-3' must be greater than zero"),
        (positive_float, "soon", "'soon' is not a number"),
        (positive_float, "0", "'0' must be greater than zero"),
        (non_negative_float, "-0.1", "'-0.1' must not be negative"),
        (non_negative_float, "nan", "'nan' must not be negative"),
        (percent, "9", "'9' must be between 10 and 95"),
        (percent, "96", "'96' must be between 10 and 95"),
        (percent, "0", "'0' must be greater than zero"),
        (secret_ref, "phase-token", "'phase-token' is not NAMESPACE/NAME"),
        (secret_ref, "/phase-token", "is not NAMESPACE/NAME"),
        (secret_ref, "payments/", "is not NAMESPACE/NAME"),
        (secret_ref, "a/b/c", "'a/b/c' is not NAMESPACE/NAME"),
        (service_account_ref, "Payments/api", "is not NAMESPACE/NAME of a Kubernetes Service"),
        (service_account_ref, "payments/api_v2", "is not NAMESPACE/NAME of a Kubernetes Service"),
        (service_account_ref, "payments.eu/api", "is not NAMESPACE/NAME of a Kubernetes"),
        (service_account_ref, "payments", "'payments' is not NAMESPACE/NAME"),
    ],
)
def test_a_bad_value_is_a_usage_error_that_quotes_it(
    convert: Callable[[str], Any], text: str, message: str
) -> None:
    with pytest.raises(argparse.ArgumentTypeError, match=message):
        convert(text)


def test_argparse_reports_a_bad_value_as_a_usage_error(
    capsys: pytest.CaptureFixture[str],
) -> None:
    parser = argparse.ArgumentParser(prog="prog")
    parser.add_argument("--ttl", type=positive_int)
    with pytest.raises(SystemExit) as exited:
        parser.parse_args(["--ttl", "0"])
    assert exited.value.code == 2
    assert "argument --ttl: '0' must be greater than zero" in capsys.readouterr().err


@pytest.mark.parametrize("text", ["nan", "inf", "-inf"])
def test_no_number_of_seconds_is_nan_or_infinite(text: str) -> None:
    from external_identity.cli.args import non_negative_float, positive_float

    for parse in (positive_float, non_negative_float):
        with pytest.raises(argparse.ArgumentTypeError, match="finite"):
            parse(text)
