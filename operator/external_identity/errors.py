"""The package's one exception tree.

    ExternalIdentityError
    ├── ConfigurationError          our own input is wrong (flags, spec fields)
    ├── CredentialsUnavailable      no usable cloud credentials (missing, expired, refused)
    ├── SecretWriteError            the Kubernetes Secret could not be written
    │   ├── SecretConflict          a Secret of that name exists and is not ours
    │   └── NamespaceTerminating    its namespace is being deleted (normal teardown)
    └── TokenServiceError           anything the token service said or failed to say
        ├── RequestRejected         permanent: retrying the same request will not help
        │   ├── InvalidRequest          400 malformed request / account
        │   ├── EndpointMismatch        400 "STS endpoint mismatch"
        │   ├── TTLTooLong              400 "Requested TTL ... exceeds maximum"
        │   ├── SignatureExpired        401 "Signature expired" (clock skew)
        │   ├── ProofRejected           401 STS or Entra JWT validation failed
        │   ├── UntrustedPrincipal      403 principal / service principal not trusted
        │   ├── KeyManagementDisabled   403 server-side key management not enabled
        │   └── NotFound                404 service account or identity not found
        └── TransientError          retry with backoff
            ├── RateLimited             429, carries Retry-After
            ├── Unavailable             5xx, timeouts, connection errors
            └── MalformedResponse       200 without a usable `authentication` object

Messages never contain secret material. Remote text is truncated and any
token-shaped substrings are redacted before it lands in a message.
"""

from __future__ import annotations

import re

__all__ = [
    "ConfigurationError",
    "CredentialsUnavailable",
    "EndpointMismatch",
    "ExternalIdentityError",
    "InvalidRequest",
    "KeyManagementDisabled",
    "MalformedResponse",
    "NamespaceTerminating",
    "NotFound",
    "ProofRejected",
    "RateLimited",
    "RequestRejected",
    "SecretConflict",
    "SecretWriteError",
    "SignatureExpired",
    "TTLTooLong",
    "TokenServiceError",
    "TransientError",
    "Unavailable",
    "UntrustedPrincipal",
    "redact",
]

MAX_REMOTE_MESSAGE = 300

_SECRET_SHAPES = re.compile(
    r"pss_(?:service|user):\S+"
    r"|ServiceAccount\s+[A-Za-z0-9_.:\-]{16,}"
    r"|eyJ[A-Za-z0-9_\-]+\.[A-Za-z0-9_\-]+(?:\.[A-Za-z0-9_\-]*)?"
    r"|(?:AKIA|ASIA)[A-Z0-9]{12,}"
    r"|Signature=[0-9a-f]{16,}"
)


def redact(text: str, *, limit: int = MAX_REMOTE_MESSAGE) -> str:
    """Remove token-shaped substrings and truncate; safe for logs and status."""
    cleaned = _SECRET_SHAPES.sub("[redacted]", text).strip()
    if len(cleaned) > limit:
        cleaned = cleaned[:limit].rstrip() + "…"
    return cleaned


class ExternalIdentityError(Exception):
    """Root of every error this package raises on purpose."""

    #: A short CamelCase name for conditions and CLI output.
    reason: str = "Error"
    #: Whether retrying soon (with backoff) is likely to help.
    retryable: bool = False


class ConfigurationError(ExternalIdentityError):
    reason = "InvalidSpec"


class CredentialsUnavailable(ExternalIdentityError):
    reason = "CredentialsUnavailable"
    retryable = True


class SecretWriteError(ExternalIdentityError):
    reason = "SecretWriteFailed"
    retryable = True


class SecretConflict(SecretWriteError):
    reason = "SecretConflict"
    retryable = False


class NamespaceTerminating(SecretWriteError):
    """The Secret's namespace is being deleted: normal teardown, nothing to retry."""

    reason = "NamespaceTerminating"
    retryable = False


class TokenServiceError(ExternalIdentityError):
    """The token service refused or failed; carries its status and own message."""

    reason = "ExchangeFailed"
    #: What the client was doing, e.g. "AWS IAM exchange" — for one-line messages.
    check = "token service request"

    def __init__(self, message: str, *, status: int | None = None) -> None:
        self.server_message = redact(message)
        self.status = status
        prefix = f"HTTP {status}: " if status is not None else ""
        super().__init__(f"{self.check}: {prefix}{self.server_message}")


class RequestRejected(TokenServiceError):
    reason = "Rejected"
    check = "token service rejected the request"


class InvalidRequest(RequestRejected):
    check = "token service rejected the request as invalid"


class EndpointMismatch(RequestRejected):
    check = "STS endpoint does not match the identity's configured endpoint"


class TTLTooLong(RequestRejected):
    check = "requested TTL exceeds the identity's maximum TTL"


class SignatureExpired(RequestRejected):
    check = "signed request is outside the identity's signature window (check clock skew)"


class ProofRejected(RequestRejected):
    check = "token service could not verify the cloud identity proof"


class UntrustedPrincipal(RequestRejected):
    check = "cloud principal is not trusted by the external identity"


class KeyManagementDisabled(RequestRejected):
    check = "service account does not have server-side key management enabled"


class NotFound(RequestRejected):
    check = "service account or external identity not found"


class TransientError(TokenServiceError):
    reason = "ExchangeFailed"
    retryable = True


class RateLimited(TransientError):
    check = "token service is rate limiting requests"

    def __init__(
        self, message: str, *, status: int | None = 429, retry_after: float | None = None
    ) -> None:
        super().__init__(message, status=status)
        self.retry_after = retry_after


class Unavailable(TransientError):
    check = "token service unavailable"


class MalformedResponse(TransientError):
    check = "token service returned a malformed response"
