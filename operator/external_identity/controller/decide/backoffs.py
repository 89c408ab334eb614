"""Backoff after failures: how long to wait, and what a restart reads back. Pure; no I/O.

Like cert-manager's, the backoff lives in status (``failureCount``, ``nextRefreshTime``), so a
restarted operator waits out what the failed attempt earned instead of retrying at once.
"""

from __future__ import annotations

import random
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from external_identity.api import conditions
from external_identity.api.problems import Problem
from external_identity.api.times import parse_rfc3339
from external_identity.controller.decide.timing import retry_delay
from external_identity.controller.settings import OperatorSettings

__all__ = ["Backoff", "after_failure", "restored_backoff"]


@dataclass(frozen=True)
class Backoff:
    """Consecutive failures, when to try again, and the inputs that last failed."""

    failures: int = 0
    retry_at: datetime | None = None
    inputs: str | None = None

    def holds(self, now: datetime, inputs: str) -> bool:
        """Still backing off: not yet time, and nothing changed since the failure."""
        return self.retry_at is not None and now < self.retry_at and self.inputs == inputs


def restored_backoff(
    status: Mapping[str, Any], *, generation: int | None, inputs: str, now: datetime
) -> Backoff:
    """After a restart: the backoff a failing binding was in, read back from its status."""
    failures = status.get("failureCount")
    count = failures if isinstance(failures, int) and failures > 0 else 0
    retry_at = parse_rfc3339(str(status.get("nextRefreshTime") or ""))
    if (
        count == 0
        or conditions.is_ready(status)
        or status.get("observedGeneration") != generation
        or retry_at is None
        or retry_at <= now
    ):
        return Backoff(failures=count)
    return Backoff(failures=count, retry_at=retry_at, inputs=inputs)


def after_failure(
    backoff: Backoff,
    problem: Problem,
    *,
    inputs: str,
    now: datetime,
    settings: OperatorSettings,
    rng: random.Random,
) -> Backoff:
    """The backoff after one more consecutive failure."""
    failures = backoff.failures + 1
    if problem.retryable:
        cap = settings.backoff_cap_seconds
        if problem.retry_cap is not None:
            cap = min(cap, problem.retry_cap)
        delay = retry_delay(
            failures=failures,
            base=min(settings.backoff_base_seconds, cap),
            cap=cap,
            retry_after=problem.retry_after,
            rng=rng,
        )
    else:
        delay = max(settings.permanent_retry_seconds, problem.retry_after or 0.0)
    return Backoff(failures=failures, retry_at=now + timedelta(seconds=delay), inputs=inputs)
