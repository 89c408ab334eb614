"""Backoff after failures, and the backoff a restart reads back from status."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest

from external_identity.api.problems import Problem, problem_for
from external_identity.api.times import rfc3339
from external_identity.controller.decide.backoffs import Backoff, after_failure, restored_backoff
from external_identity.controller.settings import OperatorSettings
from external_identity.errors import (
    ExternalIdentityError,
    NotFound,
    RateLimited,
    RequestRejected,
    SecretWriteError,
    StatusWriteError,
    Unavailable,
)
from tests.controller.decide.situations import (
    NOW,
    NoJitter,
    failing_status,
    ready_status,
)

RETRY_AT = NOW + timedelta(seconds=30)


def test_a_failing_status_restores_its_backoff_after_a_restart() -> None:
    backoff = restored_backoff(failing_status(), generation=1, inputs="k", now=NOW)
    assert backoff == Backoff(failures=3, retry_at=RETRY_AT, inputs="k")
    assert backoff.holds(NOW, "k")


@pytest.mark.parametrize(
    ("status", "generation"),
    [(ready_status(failureCount=3, nextRefreshTime=rfc3339(RETRY_AT)), 1),
     (failing_status(), 2),
     (failing_status(nextRefreshTime=rfc3339(NOW)), 1)],
    ids=["ready", "spec changed while down", "retry time passed"],
)
def test_a_status_that_is_not_backing_off_restores_no_wait(
    status: dict[str, Any], generation: int
) -> None:
    backoff = restored_backoff(status, generation=generation, inputs="k", now=NOW)
    assert backoff.retry_at is None
    assert not backoff.holds(NOW, "k")


def test_the_failure_count_survives_a_restart_so_backoff_keeps_growing() -> None:
    restored = restored_backoff(failing_status(nextRefreshTime=None), generation=1, inputs="k",
                                now=NOW)
    problem = problem_for(Unavailable("down", status=503))
    after = after_failure(restored, problem, inputs="k", now=NOW, settings=OperatorSettings(),
                          rng=NoJitter())
    assert after.failures == 4
    assert after.retry_at == NOW + timedelta(seconds=16)


def delays(problem: Problem, *, count: int, start: int = 0,
           settings: OperatorSettings | None = None) -> list[float]:
    backoff, seen = Backoff(failures=start), []
    for _ in range(count):
        backoff = after_failure(backoff, problem, inputs="k", now=NOW,
                                settings=settings or OperatorSettings(), rng=NoJitter())
        assert backoff.retry_at is not None and backoff.inputs == "k"
        seen.append((backoff.retry_at - NOW).total_seconds())
    return seen


def test_backoff_doubles_with_each_consecutive_failure_up_to_the_cap() -> None:
    problem = problem_for(Unavailable("down", status=503))
    assert delays(problem, count=10) == [2, 4, 8, 16, 32, 64, 128, 256, 300, 300]


@pytest.mark.parametrize(
    "error",
    [RateLimited("slow down", retry_after=45), Unavailable("busy", status=503, retry_after=45)],
    ids=["429", "503"],
)
def test_a_retry_after_is_a_floor_under_the_backoff(error: ExternalIdentityError) -> None:
    problem = problem_for(error)
    assert delays(problem, count=1) == [45]
    assert delays(problem, count=1, start=6) == [128]
    assert delays(problem, count=1, start=20) == [300]


@pytest.mark.parametrize("error", [SecretWriteError("api down"), StatusWriteError("api down")])
def test_kubernetes_api_problems_are_retried_within_seconds(error: ExternalIdentityError) -> None:
    assert delays(problem_for(error), count=4) == [2, 4, 4, 4]


def test_non_retryable_problems_wait_the_permanent_retry_delay() -> None:
    problem = problem_for(NotFound("no such account", status=404))
    settings = OperatorSettings(permanent_retry_seconds=900)
    assert delays(problem, count=3, settings=settings) == [900, 900, 900]
    rejected = RequestRejected("slow", status=403)
    rejected.retry_after = 1200
    assert delays(problem_for(rejected), count=1, settings=settings) == [1200]
