"""Why a binding has no fresh token: a Ready-condition reason and a message. Pure; no I/O.

A :class:`Problem` is what the decision chain returns when a check fails, and what every
error the exchange and the Kubernetes writes raise becomes (:func:`problem_for`). Its reason
is the one vocabulary of conditions, events, ``explain`` and the ``exchanges{outcome}`` metric.
"""

from __future__ import annotations

from dataclasses import dataclass

from external_identity.api import conditions
from external_identity.errors import (
    ConfigurationError,
    CredentialsUnavailable,
    ExternalIdentityError,
    NamespaceTerminating,
    RequestRejected,
    SecretConflict,
    SecretWriteError,
    StatusWriteError,
)

__all__ = ["KUBERNETES_RETRY_CAP", "Problem", "problem_for"]

#: The Kubernetes API failing is retried at least this often (seconds), so a token that fell
#: due while the API was unreachable is written within moments of its return.
KUBERNETES_RETRY_CAP = 4.0


@dataclass(frozen=True)
class Problem:
    """A failed check or attempt, as the binding's Ready condition says it.

    ``retryable`` problems are retried with capped backoff (``retry_cap`` tightens the cap);
    the others slowly, until an input changes. ``revokes`` problems mean the binding may no
    longer hold a token at all, so the Secret is deleted rather than kept until it expires.
    """

    reason: str
    message: str
    retryable: bool = False
    #: Seconds the remote side asked us to wait (a floor for the next attempt), when it said.
    retry_after: float | None = None
    #: The cloud principal the failed request proved, when known.
    principal: str | None = None
    revokes: bool = False
    #: A tighter ceiling on backoff, for problems that clear by themselves quickly.
    retry_cap: float | None = None

    def __str__(self) -> str:
        return self.message


def problem_for(error: ExternalIdentityError) -> Problem:
    """The condition an error leaves on its binding."""
    message = str(error)
    if isinstance(error, RequestRejected):
        return Problem(
            conditions.REJECTED, message, retry_after=error.retry_after, principal=error.principal
        )
    if isinstance(error, SecretConflict):
        return Problem(conditions.SECRET_CONFLICT, message)
    if isinstance(error, NamespaceTerminating):
        return Problem(conditions.EXCHANGE_FAILED, message)
    if isinstance(error, SecretWriteError | StatusWriteError):
        return Problem(
            conditions.EXCHANGE_FAILED, f"{message}; retrying",
            retryable=True, retry_cap=KUBERNETES_RETRY_CAP,
        )
    if isinstance(error, ConfigurationError):
        return Problem(conditions.INVALID_SPEC, message)
    if isinstance(error, CredentialsUnavailable):
        return Problem(conditions.CREDENTIALS_UNAVAILABLE, message, retryable=True)
    return Problem(
        conditions.EXCHANGE_FAILED,
        f"{message}; retrying",
        retryable=error.retryable,
        retry_after=error.retry_after,
        principal=error.principal,
    )
