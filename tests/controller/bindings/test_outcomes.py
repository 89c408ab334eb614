"""What issued() and failed() report: the status patch, the event and readiness. No I/O."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

import pytest

from external_identity.api import conditions
from external_identity.api.problems import Problem
from external_identity.api.specs import parse_binding, parse_identity
from external_identity.api.times import rfc3339
from external_identity.controller.bindings.outcomes import Event, Report, failed, issued, suspended
from external_identity.controller.decide.backoffs import Backoff
from tests.controller.decide.situations import (
    ISSUED,
    NOW,
    SA,
    SECRET_NAME,
    TTL,
    binding_spec,
    held,
    identity_spec,
    issued_token,
)

PRINCIPAL = "arn:aws:iam::123456789012:role/payments"
LATER = NOW + timedelta(minutes=40)
UNAVAILABLE = Problem(conditions.EXCHANGE_FAILED, "token service unavailable; retrying",
                      retryable=True, principal=PRINCIPAL)
BACKOFF = Backoff(failures=2, retry_at=NOW + timedelta(seconds=8), inputs="k")


def report_issued(previous: dict[str, Any], *, now: datetime = NOW,
                  principal: str | None = PRINCIPAL, generation: int | None = 3) -> Report:
    token = held()
    return issued(
        previous=previous, token=issued_token(principal=principal), held=token,
        binding=parse_binding(binding_spec()), identity=parse_identity(identity_spec()),
        generation=generation, now=now,
    )


def report_failed(previous: dict[str, Any], *, problem: Problem = UNAVAILABLE,
                  backoff: Backoff = BACKOFF, expired: bool = False, held_token: bool = True,
                  revoked: str | None = None, now: datetime = NOW) -> Report:
    token = held(issued_at=NOW - timedelta(seconds=TTL if expired else 60))
    return failed(previous=previous, problem=problem, backoff=backoff,
                  held=token if held_token else None, revoked=revoked, generation=3, now=now)


def ready(report: Report) -> dict[str, Any]:
    assert report.status is not None
    listed: list[dict[str, Any]] = report.status["conditions"]
    [condition] = [c for c in listed if c["type"] == "Ready"]
    return condition


def current(*reports: Report) -> dict[str, Any]:
    """The status after these patches were merged in order (None removes a field)."""
    status: dict[str, Any] = {}
    for report in reports:
        assert report.status is not None
        status = {k: v for k, v in {**status, **report.status}.items() if v is not None}
    return status


# -- issued ---------------------------------------------------------------------------------


def test_an_issued_token_makes_the_binding_ready_and_records_its_times() -> None:
    report = report_issued({})
    token = held()
    assert report.ready
    assert report.status is not None
    assert {k: v for k, v in report.status.items() if k != "conditions"} == {
        "observedGeneration": 3,
        "expiresAt": rfc3339(ISSUED + timedelta(seconds=TTL)),
        "lastRefreshTime": rfc3339(ISSUED),
        "nextRefreshTime": rfc3339(token.refresh_at),
        "ttl": TTL,
        "secretName": SECRET_NAME,
        "principal": PRINCIPAL,
        "failureCount": 0,
        "lastFailureTime": None,
    }
    condition = ready(report)
    assert (condition["status"], condition["reason"], condition["observedGeneration"]) == (
        "True", conditions.TOKEN_ISSUED, 3)
    assert condition["lastTransitionTime"] == rfc3339(NOW)
    for part in (SA, "https://phase.example.com", SECRET_NAME, rfc3339(token.refresh_at)):
        assert part in condition["message"]


def test_an_issued_token_without_a_principal_leaves_the_recorded_one_alone() -> None:
    report = report_issued({}, principal=None)
    assert report.status is not None and "principal" not in report.status
    assert current(report_issued({}), report)["principal"] == PRINCIPAL


def test_the_first_token_posts_no_event_its_status_says_so() -> None:
    report = report_issued({})
    assert report.event is None
    assert ready(report)["reason"] == conditions.TOKEN_ISSUED


def test_a_token_after_a_suspension_posts_a_normal_event() -> None:
    paused = suspended(previous={}, message="suspended", generation=1, now=NOW)
    assert paused.status is not None
    report = report_issued(paused.status, now=LATER)
    assert report.event == Event(warning=False, reason=conditions.TOKEN_ISSUED,
                                 message=ready(report)["message"])


def test_refreshing_a_ready_binding_posts_no_event_and_keeps_the_transition_time() -> None:
    first = report_issued({})
    again = report_issued(current(first), now=LATER)
    assert again.event is None
    assert ready(again)["lastTransitionTime"] == rfc3339(NOW)


def test_recovering_from_a_failure_posts_an_event_and_moves_the_transition_time() -> None:
    failure = report_failed({})
    recovery = report_issued(current(failure), now=LATER)
    assert recovery.event is not None and not recovery.event.warning
    assert ready(recovery)["lastTransitionTime"] == rfc3339(LATER)
    assert current(failure, recovery)["failureCount"] == 0


# -- failed ---------------------------------------------------------------------------------


def test_a_failure_makes_the_binding_not_ready_and_schedules_the_retry() -> None:
    report = report_failed(current(report_issued({})))
    assert not report.ready
    assert report.status is not None
    assert {k: v for k, v in report.status.items() if k != "conditions"} == {
        "observedGeneration": 3,
        "failureCount": 2,
        "lastFailureTime": rfc3339(NOW),
        "nextRefreshTime": rfc3339(NOW + timedelta(seconds=8)),
        "principal": PRINCIPAL,
    }
    condition = ready(report)
    assert (condition["status"], condition["reason"], condition["message"]) == (
        "False", conditions.EXCHANGE_FAILED, UNAVAILABLE.message)
    assert report.event == Event(warning=True, reason=conditions.EXCHANGE_FAILED,
                                 message=UNAVAILABLE.message)


def test_a_failure_keeps_the_last_token_fields_while_it_is_still_valid() -> None:
    status = current(report_issued({}), report_failed({}))
    assert status["expiresAt"] == rfc3339(ISSUED + timedelta(seconds=TTL))
    assert status["secretName"] == SECRET_NAME


def test_a_failure_after_the_held_token_expired_is_reported_as_expired() -> None:
    condition = ready(report_failed({}, expired=True))
    assert condition["reason"] == conditions.EXPIRED
    assert condition["message"] == (
        f"token expired at {rfc3339(NOW)}; last error: {UNAVAILABLE.message}")


def test_without_a_held_token_expiry_is_read_from_the_status() -> None:
    previous = {"expiresAt": rfc3339(NOW - timedelta(seconds=1))}
    assert ready(report_failed(previous, held_token=False))["reason"] == conditions.EXPIRED
    previous = {"expiresAt": rfc3339(NOW + timedelta(seconds=1))}
    assert ready(report_failed(previous, held_token=False))["reason"] == conditions.EXCHANGE_FAILED


def test_a_secret_conflict_is_never_reported_as_expired() -> None:
    problem = Problem(conditions.SECRET_CONFLICT, "Secret payments/x is not ours")
    condition = ready(report_failed({}, problem=problem, expired=True))
    assert (condition["reason"], condition["message"]) == (conditions.SECRET_CONFLICT,
                                                           problem.message)


def test_a_revoked_secret_clears_the_token_fields_and_says_so() -> None:
    problem = Problem(conditions.NAMESPACE_NOT_ALLOWED, "namespace not allowed", revokes=True)
    report = report_failed(current(report_issued({})), problem=problem, expired=True,
                           revoked=SECRET_NAME)
    condition = ready(report)
    assert condition["reason"] == conditions.NAMESPACE_NOT_ALLOWED
    assert condition["message"] == f"namespace not allowed; Secret {SECRET_NAME} deleted"
    assert report.status is not None
    for field in ("expiresAt", "lastRefreshTime", "ttl", "secretName"):
        assert report.status[field] is None
    assert "expiresAt" not in current(report_issued({}), report)


def test_a_failure_without_a_retry_time_leaves_the_next_refresh_alone() -> None:
    report = report_failed({}, backoff=Backoff(failures=1))
    assert report.status is not None and "nextRefreshTime" not in report.status


def test_repeating_the_same_failure_posts_no_second_event() -> None:
    first = report_failed({})
    again = report_failed(current(first), now=NOW + timedelta(seconds=8))
    assert again.event is None
    assert ready(again)["lastTransitionTime"] == rfc3339(NOW)
    assert current(first, again)["lastFailureTime"] == rfc3339(NOW + timedelta(seconds=8))


@pytest.mark.parametrize(
    "problem",
    [Problem(conditions.EXCHANGE_FAILED, "token service unavailable (timeout); retrying"),
     Problem(conditions.REJECTED, UNAVAILABLE.message)],
    ids=["message", "reason"],
)
def test_a_changed_failure_posts_a_new_warning_but_keeps_the_transition_time(
    problem: Problem,
) -> None:
    first = report_failed({})
    later = report_failed(current(first), problem=problem, now=LATER)
    assert later.event == Event(warning=True, reason=problem.reason, message=problem.message)
    assert ready(later)["lastTransitionTime"] == rfc3339(NOW)


def test_failing_after_ready_moves_the_transition_time() -> None:
    report = report_failed(current(report_issued({})), now=LATER)
    assert ready(report)["lastTransitionTime"] == rfc3339(LATER)
    assert report.event is not None and report.event.warning


def test_repeating_a_long_failure_posts_no_second_event() -> None:
    fields = "; ".join(f"spec.field{n}: Input should be greater than 0" for n in range(30))
    problem = Problem(conditions.INVALID_SPEC, f"ExternalIdentity 'x' is invalid: {fields}")
    first = report_failed({}, problem=problem)
    assert first.event is not None
    assert report_failed(current(first), problem=problem).event is None


# -- suspended ------------------------------------------------------------------------------


def test_suspending_says_so_once_with_a_normal_event() -> None:
    first = suspended(previous={}, message="refreshing is suspended", generation=4, now=NOW)
    assert first.ready is False
    assert first.event == Event(warning=False, reason=conditions.SUSPENDED,
                                message="refreshing is suspended")
    assert first.status is not None and first.status["observedGeneration"] == 4
    assert ready(first)["reason"] == conditions.SUSPENDED

    again = suspended(previous=current(first), message="refreshing is suspended",
                      generation=4, now=NOW + timedelta(minutes=10))
    assert again.event is None
    assert ready(again)["lastTransitionTime"] == rfc3339(NOW)
