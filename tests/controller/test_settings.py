"""OperatorSettings: the defaults are valid, and each out-of-range value is refused by name."""

from __future__ import annotations

import dataclasses
from typing import Any

import pytest

from external_identity.controller.settings import OperatorSettings


def test_the_defaults_are_cluster_wide_and_refresh_at_two_thirds_of_the_lifetime() -> None:
    settings = OperatorSettings()
    assert settings.namespaces == ()
    assert settings.binding_selector is None
    assert settings.refresh_percent == 67
    assert settings.backoff_base_seconds < settings.backoff_cap_seconds


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"refresh_percent": 9}, "refresh percent must be between 10 and 95"),
        ({"refresh_percent": 96}, "refresh percent must be between 10 and 95"),
        ({"jitter_fraction": -0.01}, "jitter fraction must be between 0 and 0.5"),
        ({"jitter_fraction": 0.51}, "jitter fraction must be between 0 and 0.5"),
        ({"min_remaining_seconds": -1}, "minimum remaining seconds must not be negative"),
        ({"max_concurrent_exchanges": 0}, "max concurrent exchanges must be at least 1"),
        ({"backoff_base_seconds": 0}, "backoff cap must be at least the"),
        ({"backoff_base_seconds": 10, "backoff_cap_seconds": 9}, "backoff cap must be at least"),
        ({"identity_probe_seconds": 0}, "identity probe interval must be positive"),
        ({"permanent_retry_seconds": 0}, "permanent retry delay must be positive"),
        ({"restart_min_interval_seconds": -1}, "restart minimum interval must not be negative"),
    ],
    ids=lambda value: "-".join(f"{k}={v}" for k, v in value.items())
    if isinstance(value, dict) else "",
)
def test_an_out_of_range_setting_is_refused_naming_it(
    changes: dict[str, Any], message: str
) -> None:
    with pytest.raises(ValueError, match=message):
        OperatorSettings(**changes)


@pytest.mark.parametrize(
    "changes",
    [
        {"refresh_percent": 10}, {"refresh_percent": 95}, {"jitter_fraction": 0},
        {"jitter_fraction": 0.5}, {"min_remaining_seconds": 0}, {"max_concurrent_exchanges": 1},
        {"backoff_base_seconds": 5, "backoff_cap_seconds": 5},
        {"restart_min_interval_seconds": 0},
    ],
)
def test_the_bounds_themselves_are_allowed(changes: dict[str, Any]) -> None:
    settings = OperatorSettings(**changes)
    assert {key: getattr(settings, key) for key in changes} == changes


def test_settings_cannot_change_once_made() -> None:
    settings = OperatorSettings()
    with pytest.raises(dataclasses.FrozenInstanceError):
        settings.refresh_percent = 50  # type: ignore[misc]
