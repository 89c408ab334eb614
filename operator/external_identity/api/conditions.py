"""Ready-condition vocabulary and the condition setter. Pure data, no I/O."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Any

from external_identity.api.times import rfc3339

__all__ = [
    "CREDENTIALS_UNAVAILABLE",
    "EXCHANGE_FAILED",
    "EXPIRED",
    "IDENTITY_NOT_FOUND",
    "INVALID_SPEC",
    "NAMESPACE_NOT_ALLOWED",
    "READY",
    "REJECTED",
    "SECRET_CONFLICT",
    "SERVICE_ACCOUNT_NOT_ALLOWED",
    "SUSPENDED",
    "TOKEN_ISSUED",
    "VALID",
    "is_ready",
    "ready_condition",
    "set_condition",
]

READY = "Ready"

TOKEN_ISSUED = "TokenIssued"
VALID = "Valid"
INVALID_SPEC = "InvalidSpec"
IDENTITY_NOT_FOUND = "IdentityNotFound"
NAMESPACE_NOT_ALLOWED = "NamespaceNotAllowed"
SERVICE_ACCOUNT_NOT_ALLOWED = "ServiceAccountNotAllowed"
CREDENTIALS_UNAVAILABLE = "CredentialsUnavailable"
REJECTED = "Rejected"
EXCHANGE_FAILED = "ExchangeFailed"
SECRET_CONFLICT = "SecretConflict"
EXPIRED = "Expired"
SUSPENDED = "Suspended"

MAX_MESSAGE = 1024


def set_condition(
    conditions: Sequence[Mapping[str, Any]],
    *,
    type_: str,
    status: bool,
    reason: str,
    message: str,
    generation: int | None,
    now: datetime,
) -> list[dict[str, Any]]:
    """A new condition list with ``type_`` set; ``lastTransitionTime`` moves only on a flip."""
    status_text = "True" if status else "False"
    previous = next((c for c in conditions if c.get("type") == type_), None)
    transition = (
        previous.get("lastTransitionTime")
        if previous is not None and previous.get("status") == status_text
        else None
    ) or rfc3339(now)
    updated: dict[str, Any] = {
        "type": type_,
        "status": status_text,
        "reason": reason,
        "message": message[:MAX_MESSAGE],
        "lastTransitionTime": transition,
    }
    if generation is not None:
        updated["observedGeneration"] = generation
    others = [dict(c) for c in conditions if c.get("type") != type_]
    return [*others, updated]


def ready_condition(status: Mapping[str, Any]) -> Mapping[str, Any] | None:
    conditions = status.get("conditions") or []
    return next((c for c in conditions if isinstance(c, Mapping) and c.get("type") == READY), None)


def is_ready(status: Mapping[str, Any]) -> bool:
    condition = ready_condition(status)
    return condition is not None and condition.get("status") == "True"
