"""Every error the exchange and the Kubernetes writes can raise, as a condition. Pure; no I/O."""

from __future__ import annotations

from external_identity.api import conditions as reasons
from external_identity.errors import (
    ConfigurationError,
    CredentialsUnavailable,
    ExternalIdentityError,
    NamespaceTerminating,
    Problem,
    RequestRejected,
    SecretConflict,
    SecretWriteError,
    StatusWriteError,
)

__all__ = ["KUBERNETES_RETRY_CAP", "problem_for"]

#: The Kubernetes API failing is retried at least this often (seconds), so a token that fell
#: due while the API was unreachable is written within moments of its return.
KUBERNETES_RETRY_CAP = 4.0


def problem_for(error: ExternalIdentityError) -> Problem:
    if isinstance(error, Problem):
        return error
    message = str(error)
    if isinstance(error, RequestRejected):
        return Problem(
            reasons.REJECTED, message, retry_after=error.retry_after, principal=error.principal
        )
    if isinstance(error, SecretConflict):
        return Problem(reasons.SECRET_CONFLICT, message)
    if isinstance(error, NamespaceTerminating):
        return Problem(reasons.EXCHANGE_FAILED, message)
    if isinstance(error, SecretWriteError | StatusWriteError):
        return Problem(
            reasons.EXCHANGE_FAILED, f"{message}; retrying",
            retryable=True, retry_cap=KUBERNETES_RETRY_CAP,
        )
    if isinstance(error, ConfigurationError):
        return Problem(reasons.INVALID_SPEC, message)
    if isinstance(error, CredentialsUnavailable):
        return Problem(reasons.CREDENTIALS_UNAVAILABLE, message, retryable=True)
    return Problem(
        reasons.EXCHANGE_FAILED,
        f"{message}; retrying",
        retryable=error.retryable,
        retry_after=error.retry_after,
        principal=error.principal,
    )
