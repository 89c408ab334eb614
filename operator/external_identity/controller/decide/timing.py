"""When to refresh and when to retry: pure functions of times and counts. No I/O."""

from __future__ import annotations

import random
from datetime import datetime, timedelta

from external_identity.api.specs import BindingSpec
from external_identity.controller.settings import OperatorSettings

__all__ = ["MIN_REFRESH_INTERVAL", "refresh_moment", "refresh_time", "retry_delay"]

#: Never schedule refreshes closer together than this (guards tiny TTLs).
MIN_REFRESH_INTERVAL = timedelta(seconds=1)


def refresh_time(
    *,
    issued_at: datetime,
    expires_at: datetime,
    fraction: float,
    margin: timedelta,
    jitter_fraction: float,
    rng: random.Random,
) -> datetime:
    """The moment to replace a token issued at ``issued_at`` that dies at ``expires_at``.

    ``fraction`` of the lifetime in, minus up to ``jitter_fraction`` of it at
    random (only ever earlier), and never later than ``margin`` before expiry.
    For short lifetimes the margin shrinks to a third of the lifetime so a
    refresh still fits; the result is never sooner than one second after issue.
    """
    lifetime = expires_at - issued_at
    planned = issued_at + lifetime * fraction - lifetime * (jitter_fraction * rng.random())
    latest = expires_at - min(margin, lifetime / 3)
    earliest = issued_at + min(MIN_REFRESH_INTERVAL, lifetime / 3)
    return max(min(planned, latest), earliest)


def retry_delay(
    *,
    failures: int,
    base: float,
    cap: float,
    retry_after: float | None,
    rng: random.Random,
) -> float:
    """Seconds to wait after the ``failures``-th consecutive transient failure.

    Capped exponential backoff with up to 20% jitter; a server's Retry-After
    is a floor (we never come back sooner than asked).
    """
    exponent = min(max(failures - 1, 0), 32)
    delay = min(cap, base * 2.0**exponent)
    delay *= 1 - 0.2 * rng.random()
    if retry_after is not None:
        delay = max(delay, retry_after)
    return delay


def refresh_moment(
    *,
    issued_at: datetime,
    expires_at: datetime,
    binding: BindingSpec,
    settings: OperatorSettings,
    rng: random.Random | None,
) -> datetime:
    """When to replace a token: the binding's refresh policy, else the operator's settings.

    Without ``rng`` there is no jitter (a token adopted after a restart whose status lost
    its refresh time gets the planned moment itself).
    """
    defaults = settings
    policy = binding.refresh_policy
    percent = (
        policy.refresh_at_percent
        if policy.refresh_at_percent is not None
        else defaults.refresh_percent
    )
    margin = (
        policy.min_remaining_seconds
        if policy.min_remaining_seconds is not None
        else defaults.min_remaining_seconds
    )
    return refresh_time(
        issued_at=issued_at,
        expires_at=expires_at,
        fraction=percent / 100,
        margin=timedelta(seconds=margin),
        jitter_fraction=defaults.jitter_fraction if rng is not None else 0.0,
        rng=rng or random.Random(0),
    )
