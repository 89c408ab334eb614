"""The one clock and RFC 3339 as Kubernetes writes it: UTC, whole seconds, ``Z``. No I/O."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

import pytest

from external_identity.api.times import parse_rfc3339, rfc3339, utcnow

MOMENT = datetime(2026, 3, 1, 12, 30, 45, tzinfo=UTC)


def test_the_system_clock_tells_the_time_in_utc() -> None:
    before = datetime.now(UTC)
    now = utcnow()
    assert now.utcoffset() == timedelta(0)
    assert before <= now <= datetime.now(UTC)


def test_a_moment_is_written_in_utc_with_whole_seconds_and_a_z() -> None:
    assert rfc3339(MOMENT.replace(microsecond=987654)) == "2026-03-01T12:30:45Z"


def test_a_moment_in_another_zone_is_written_as_the_same_moment_in_utc() -> None:
    paris = MOMENT.astimezone(timezone(timedelta(hours=1)))
    assert rfc3339(paris) == "2026-03-01T12:30:45Z"


@pytest.mark.parametrize(
    "text",
    ["2026-03-01T12:30:45Z", "2026-03-01T13:30:45+01:00", "2026-03-01T12:30:45"],
    ids=["z", "offset", "naive is utc"],
)
def test_a_timestamp_is_read_back_as_the_moment_it_names(text: str) -> None:
    parsed = parse_rfc3339(text)
    assert parsed == MOMENT
    assert parsed is not None and parsed.tzinfo is not None


def test_what_is_written_reads_back_unchanged() -> None:
    assert parse_rfc3339(rfc3339(MOMENT)) == MOMENT


@pytest.mark.parametrize("text", ["", "soon", "2026-13-01T00:00:00Z", "1700000000"])
def test_what_is_not_a_timestamp_reads_as_none(text: str) -> None:
    assert parse_rfc3339(text) is None
