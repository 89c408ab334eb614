"""Argument types for the ``external-identity`` command line: text in, a checked value out.

Each raises :class:`argparse.ArgumentTypeError`, which argparse turns into a usage error.
"""

from __future__ import annotations

import argparse
import math
import re
import uuid

__all__ = [
    "add_cluster_flags",
    "non_negative_float",
    "percent",
    "positive_float",
    "positive_int",
    "secret_ref",
    "service_account_ref",
    "uuid_text",
]


def uuid_text(value: str) -> str:
    """A UUID in its canonical lower-case, hyphenated form."""
    try:
        return str(uuid.UUID(value))
    except ValueError:
        raise argparse.ArgumentTypeError(f"{value!r} is not a UUID") from None


def _number(value: str, convert: type[int] | type[float], noun: str) -> float:
    try:
        return convert(value)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{value!r} is not {noun}") from None


def positive_int(value: str) -> int:
    number = int(_number(value, int, "a whole number"))
    if number <= 0:
        raise argparse.ArgumentTypeError(f"{value!r} must be greater than zero")
    return number


def positive_float(value: str) -> float:
    number = _number(value, float, "a number")
    if not 0 < number < math.inf:  # NaN and infinity are no number of seconds
        raise argparse.ArgumentTypeError(f"{value!r} must be greater than zero and finite")
    return number


def non_negative_float(value: str) -> float:
    number = _number(value, float, "a number")
    if not 0 <= number < math.inf:
        raise argparse.ArgumentTypeError(f"{value!r} must not be negative, and finite")
    return number


def percent(value: str) -> int:
    """A refresh percentage: a whole number from 10 to 95."""
    number = positive_int(value)
    if not 10 <= number <= 95:
        raise argparse.ArgumentTypeError(f"{value!r} must be between 10 and 95")
    return number


def secret_ref(value: str) -> tuple[str, str]:
    """``NAMESPACE/NAME`` as ``(namespace, name)``."""
    namespace, sep, name = value.partition("/")
    if not sep or not namespace or not name or "/" in name:
        raise argparse.ArgumentTypeError(f"{value!r} is not NAMESPACE/NAME")
    return namespace, name


_DNS_LABEL = re.compile(r"^[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?$")
_DNS_SUBDOMAIN = re.compile(r"^[a-z0-9]([-a-z0-9.]{0,251}[a-z0-9])?$")


def service_account_ref(value: str) -> tuple[str, str]:
    """A Kubernetes ServiceAccount ``NAMESPACE/NAME`` as ``(namespace, name)``."""
    namespace, name = secret_ref(value)
    if not _DNS_LABEL.match(namespace) or not _DNS_SUBDOMAIN.match(name):
        raise argparse.ArgumentTypeError(
            f"{value!r} is not NAMESPACE/NAME of a Kubernetes ServiceAccount"
        )
    return namespace, name


def add_cluster_flags(
    parser: argparse.ArgumentParser, *, default: str = "$KUBECONFIG or ~/.kube/config",
    when: str = "",
) -> None:
    """``--kubeconfig`` and ``--context``: which cluster, as every command chooses it."""
    parser.add_argument(
        "--kubeconfig", metavar="PATH",
        help=f"{when}reach the cluster through this kubeconfig file (default: {default})",
    )
    parser.add_argument(
        "--context", metavar="NAME",
        help=f"{when}use this context of the kubeconfig (default: its current context)",
    )
