import random
from datetime import UTC, datetime, timedelta

import pytest

from external_identity.controller.decide.timing import refresh_time, retry_delay

ISSUED = datetime(2026, 1, 1, tzinfo=UTC)


def _refresh(
    ttl: float, *, fraction: float = 2 / 3, margin: float = 10, jitter: float = 0.0, seed: int = 1
) -> timedelta:
    when = refresh_time(
        issued_at=ISSUED,
        expires_at=ISSUED + timedelta(seconds=ttl),
        fraction=fraction,
        margin=timedelta(seconds=margin),
        jitter_fraction=jitter,
        rng=random.Random(seed),
    )
    return when - ISSUED


def test_refresh_happens_at_two_thirds_of_an_hour_token() -> None:
    assert _refresh(3600) == timedelta(seconds=2400)


def test_refresh_never_later_than_the_safety_margin_before_expiry() -> None:
    assert _refresh(3600, fraction=0.95, margin=600) == timedelta(seconds=3000)


def test_short_tokens_shrink_the_margin_so_a_refresh_still_fits() -> None:
    # 12 s token, 10 s margin: the margin shrinks to a third of the lifetime.
    assert _refresh(12, fraction=0.9) == timedelta(seconds=8)


@pytest.mark.parametrize("ttl", [6, 30, 90, 3600, 86400])
def test_refresh_always_lands_strictly_inside_the_lifetime(ttl: int) -> None:
    for seed in range(50):
        offset = _refresh(ttl, jitter=0.5, seed=seed).total_seconds()
        assert 0 < offset < ttl


def test_jitter_only_ever_moves_the_refresh_earlier() -> None:
    planned = _refresh(3600).total_seconds()
    offsets = {_refresh(3600, jitter=0.1, seed=seed).total_seconds() for seed in range(30)}
    assert max(offsets) <= planned
    assert min(offsets) >= planned - 360
    assert len(offsets) > 1


def test_backoff_doubles_then_stops_at_the_cap() -> None:
    rng = random.Random(0)
    delays = [
        retry_delay(failures=n, base=2, cap=30, retry_after=None, rng=rng) for n in range(1, 8)
    ]
    assert 1.6 <= delays[0] <= 2
    assert 3.2 <= delays[1] <= 4
    assert all(d <= 30 for d in delays)
    assert delays[-1] >= 24


def test_retry_after_is_a_floor_for_the_next_attempt() -> None:
    delay = retry_delay(failures=1, base=2, cap=30, retry_after=45, rng=random.Random(0))
    assert delay == 45


def test_huge_failure_counts_do_not_overflow() -> None:
    delay = retry_delay(failures=10_000, base=2, cap=300, retry_after=None, rng=random.Random(0))
    assert 240 <= delay <= 300
