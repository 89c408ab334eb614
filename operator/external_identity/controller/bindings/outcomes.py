"""What each outcome says: the status patch, the event and readiness. Pure; no I/O.

An event is posted only when the Ready condition changes (status, reason or message), so a
binding retrying the same failure does not flood the namespace with repeats. A first issue
posts none: the status says it, and a binding's first token costs the API server no more than
reading, creating and reporting it (see :mod:`.reconciler`). Recovering from a failure posts
``TokenIssued``.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from external_identity.api import conditions
from external_identity.api.conditions import MAX_MESSAGE, ready_condition, set_condition
from external_identity.api.problems import Problem
from external_identity.api.specs import BindingSpec, IdentitySpec
from external_identity.api.times import parse_rfc3339, rfc3339
from external_identity.controller.decide.backoffs import Backoff
from external_identity.controller.decide.plans import HANDLED_REFRESH_FIELD, Held
from external_identity.exchange.tokens import IssuedToken

__all__ = ["Event", "Report", "failed", "issued", "suspended"]


@dataclass(frozen=True)
class Event:
    warning: bool
    reason: str
    message: str


@dataclass(frozen=True)
class Report:
    #: A merge patch for ``status`` (None: nothing to write).
    status: dict[str, Any] | None
    event: Event | None
    ready: bool


def issued(
    *,
    previous: Mapping[str, Any],
    token: IssuedToken,
    held: Held,
    binding: BindingSpec,
    identity: IdentitySpec,
    generation: int | None,
    now: datetime,
    refresh_request: str | None = None,
) -> Report:
    message = (
        f"token for service account {binding.service_account_id} from "
        f"{identity.token_service.host} written to Secret {held.target.name}; "
        f"expires {rfc3339(held.expires_at)}, refresh at {rfc3339(held.refresh_at)}"
    )
    status: dict[str, Any] = {
        "conditions": _conditions(
            previous, True, conditions.TOKEN_ISSUED, message, generation, now
        ),
        "observedGeneration": generation,
        "expiresAt": rfc3339(held.expires_at),
        "lastRefreshTime": rfc3339(held.issued_at),
        "nextRefreshTime": rfc3339(held.refresh_at),
        "ttl": token.ttl,
        "secretName": held.target.name,
        "failureCount": 0,
        "lastFailureTime": None,
    }
    if token.principal:
        status["principal"] = token.principal
    if refresh_request:
        status[HANDLED_REFRESH_FIELD] = refresh_request
    event = None
    if ready_condition(previous) is not None and not conditions.is_ready(previous):
        event = Event(warning=False, reason=conditions.TOKEN_ISSUED, message=message)
    return Report(status=status, event=event, ready=True)


def failed(
    *,
    previous: Mapping[str, Any],
    problem: Problem,
    backoff: Backoff,
    held: Held | None,
    revoked: str | None,
    generation: int | None,
    now: datetime,
) -> Report:
    """Ready=False for ``problem``; ``revoked`` names the Secret deleted because of it."""
    reason, message = problem.reason, problem.message
    expires_at = held.expires_at if held else parse_rfc3339(str(previous.get("expiresAt") or ""))
    status: dict[str, Any] = {
        "observedGeneration": generation,
        "failureCount": backoff.failures,
        "lastFailureTime": rfc3339(now),
    }
    if backoff.retry_at is not None:
        status["nextRefreshTime"] = rfc3339(backoff.retry_at)
    if revoked is not None:
        message = f"{message}; Secret {revoked} deleted"
        status.update(expiresAt=None, lastRefreshTime=None, ttl=None, secretName=None)
    elif expires_at is not None and expires_at <= now and reason != conditions.SECRET_CONFLICT:
        message = f"token expired at {rfc3339(expires_at)}; last error: {message}"
        reason = conditions.EXPIRED
    if problem.principal:
        status["principal"] = problem.principal
    status["conditions"] = _conditions(previous, False, reason, message, generation, now)
    event = None
    if _changed(previous, reason, message):
        event = Event(warning=True, reason=reason, message=message)
    return Report(status=status, event=event, ready=False)


def suspended(
    *, previous: Mapping[str, Any], message: str, generation: int | None, now: datetime
) -> Report:
    """Ready=False, Suspended: the operator leaves the binding alone until it resumes."""
    status = {
        "observedGeneration": generation,
        "conditions": _conditions(previous, False, conditions.SUSPENDED, message, generation, now),
    }
    event = None
    if _changed(previous, conditions.SUSPENDED, message):
        event = Event(warning=False, reason=conditions.SUSPENDED, message=message)
    return Report(status=status, event=event, ready=False)


def _changed(previous: Mapping[str, Any], reason: str, message: str) -> bool:
    """Whether the Ready condition will read differently (compared as it is stored)."""
    condition = ready_condition(previous)
    return condition is None or (
        condition.get("status"), condition.get("reason"), condition.get("message")
    ) != ("False", reason, message[:MAX_MESSAGE])


def _conditions(
    previous: Mapping[str, Any],
    ready: bool,
    reason: str,
    message: str,
    generation: int | None,
    now: datetime,
) -> list[dict[str, Any]]:
    return set_condition(
        previous.get("conditions") or [],
        type_=conditions.READY,
        status=ready,
        reason=reason,
        message=message,
        generation=generation,
        now=now,
    )
