"""Time as the operator reads and writes it: the one clock type, the system clock, and RFC 3339
timestamps as Kubernetes writes them (UTC, whole seconds, ``Z``). No I/O."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime

__all__ = ["Clock", "parse_rfc3339", "rfc3339", "utcnow"]

#: What every timed part is given: the current moment, timezone-aware. Tests pass a fake one.
Clock = Callable[[], datetime]


def utcnow() -> datetime:
    """The system clock, in UTC: the :data:`Clock` the operator and the CLI run on."""
    return datetime.now(UTC)


def rfc3339(moment: datetime) -> str:
    return moment.astimezone(UTC).replace(microsecond=0).isoformat().replace("+00:00", "Z")


def parse_rfc3339(text: str) -> datetime | None:
    """The moment ``text`` names, or None when it is not a timestamp."""
    try:
        moment = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except (TypeError, ValueError):
        return None
    return moment if moment.tzinfo is not None else moment.replace(tzinfo=UTC)
