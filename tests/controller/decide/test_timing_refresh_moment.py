"""When a token is refreshed: the binding's policy, else the operator's settings."""

from __future__ import annotations

import random
from datetime import timedelta
from typing import Any

from external_identity.api.specs import parse_binding
from external_identity.controller.decide.timing import refresh_moment
from external_identity.controller.settings import OperatorSettings
from tests.controller.decide.situations import (
    ISSUED,
    binding_spec,
)

# -- refresh timing -------------------------------------------------------------------------


def moment(spec: dict[str, Any], settings: OperatorSettings, *, ttl: int = 600,
           rng: random.Random | None = None) -> float:
    at = refresh_moment(issued_at=ISSUED, expires_at=ISSUED + timedelta(seconds=ttl),
                        binding=parse_binding(spec), settings=settings, rng=rng)
    return (at - ISSUED).total_seconds()


def test_operator_settings_time_the_refresh_when_the_binding_has_no_policy() -> None:
    assert moment(binding_spec(), OperatorSettings(refresh_percent=20)) == 120
    late = OperatorSettings(refresh_percent=95, min_remaining_seconds=300)
    assert moment(binding_spec(), late, ttl=3600) == 3300


def test_the_binding_refresh_policy_overrides_the_operator_settings() -> None:
    settings = OperatorSettings(refresh_percent=20, min_remaining_seconds=300)
    assert moment(binding_spec(refreshPolicy={"refreshAtPercent": 50}), settings) == 300
    policy = {"refreshAtPercent": 95, "minRemainingSeconds": 0}
    assert moment(binding_spec(refreshPolicy=policy), settings, ttl=3600) == 3420


def test_refresh_jitter_applies_only_with_an_rng_and_only_earlier() -> None:
    settings = OperatorSettings(refresh_percent=50, jitter_fraction=0.5)
    assert moment(binding_spec(), settings) == 300
    jittered = {moment(binding_spec(), settings, rng=random.Random(seed)) for seed in range(5)}
    assert all(1 <= offset < 300 for offset in jittered)
    assert len(jittered) > 1
