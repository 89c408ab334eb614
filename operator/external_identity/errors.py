"""The package's one exception tree.

    ExternalIdentityError
    ├── ConfigurationError          our own input is wrong (flags, spec fields)
    ├── CredentialsUnavailable      no usable cloud credentials (missing, expired, refused)
    ├── StatusWriteError            a status subresource could not be written (API refused or down)
    ├── KubernetesApiError          a read the operator needs (its start-up LISTs) failed
    ├── SecretWriteError            the Kubernetes Secret could not be written
    │   ├── SecretConflict          a Secret of that name exists and is not ours
    │   └── NamespaceTerminating    its namespace is being deleted (normal teardown)
    └── TokenServiceError           anything the token service said or failed to say
        ├── RequestRejected         permanent: retrying the same request will not help
        │   ├── InvalidRequest          400 malformed request / account
        │   ├── EndpointMismatch        400 "STS endpoint mismatch", names the expected endpoint
        │   ├── TTLTooLong              400 "Requested TTL ... exceeds maximum"
        │   ├── SignatureExpired        401 "Signature expired" (clock skew)
        │   ├── ProofRejected           401 STS or Entra JWT validation failed
        │   ├── UntrustedPrincipal      403 principal / service principal not trusted
        │   ├── KeyManagementDisabled   403 server-side key management not enabled
        │   └── NotFound                404 service account or identity not found
        └── TransientError          retry with backoff
            ├── RateLimited             429, carries Retry-After
            ├── Unavailable             5xx (carries Retry-After when sent), timeouts, no connection
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
    "KubernetesApiError",
    "MalformedResponse",
    "NamespaceTerminating",
    "NotFound",
    "ProofRejected",
    "RateLimited",
    "RequestRejected",
    "SecretConflict",
    "SecretWriteError",
    "SignatureExpired",
    "StatusWriteError",
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

    #: Whether retrying soon (with backoff) is likely to help.
    retryable: bool = False
    #: Seconds the remote side asked us to wait before retrying (a floor), when it said.
    retry_after: float | None = None
    #: The cloud principal (AWS ARN, Azure object ID) the failed request proved, when known.
    principal: str | None = None


class ConfigurationError(ExternalIdentityError):
    """Our own input is wrong: flags or spec fields."""


class CredentialsUnavailable(ExternalIdentityError):
    """No usable cloud credentials: missing, expired or refused."""

    retryable = True


class StatusWriteError(ExternalIdentityError):
    """The API refused a status write, or could not be reached; the status is kept and retried."""

    retryable = True


class KubernetesApiError(ExternalIdentityError):
    """A Kubernetes API read the operator needs (a LIST at start-up) failed; it is retried."""

    retryable = True


class SecretWriteError(ExternalIdentityError):
    """The Kubernetes Secret could not be written."""

    retryable = True


class SecretConflict(SecretWriteError):
    """A Secret of that name exists and is not ours."""

    retryable = False


class NamespaceTerminating(SecretWriteError):
    """The Secret's namespace is being deleted: normal teardown, nothing to retry."""

    retryable = False


class TokenServiceError(ExternalIdentityError):
    """The token service refused or failed; carries its status and own message.

    ``principal`` (inherited) is set by the client to the principal the refused
    proof named, so a refusal says *who* was refused.
    """

    #: What the client was doing, e.g. "AWS IAM exchange" — for one-line messages.
    check = "token service request"

    def __init__(self, message: str, *, status: int | None = None) -> None:
        # One line: remote text must not forge extra lines in logs or status.
        self.server_message = redact(" ".join(message.split()))
        self.status = status
        super().__init__(self._describe())

    def _describe(self) -> str:
        prefix = f"HTTP {self.status}: " if self.status is not None else ""
        return f"{self.check}: {prefix}{self.server_message}"


class RequestRejected(TokenServiceError):
    check = "token service rejected the request"


class InvalidRequest(RequestRejected):
    check = "token service rejected the request as invalid"


class EndpointMismatch(RequestRejected):
    """The request was signed for another STS endpoint than the identity is configured with.

    ``expected_endpoint`` is the endpoint the token service said it expects (its
    ``expectedEndpoint`` field, redacted and truncated), or None when it did not say.
    """

    check = "STS endpoint does not match the identity's configured endpoint"

    def __init__(
        self, message: str, *, status: int | None = 400, expected_endpoint: str | None = None
    ) -> None:
        cleaned = " ".join((expected_endpoint or "").split())
        self.expected_endpoint = redact(cleaned, limit=200) if cleaned else None
        super().__init__(message, status=status)

    def _describe(self) -> str:
        described = super()._describe().rstrip(" .")
        if self.expected_endpoint is None:
            return (
                f"{described}; set spec.aws.stsEndpoint (or --sts-endpoint) to the STS "
                "endpoint the external identity is configured with"
            )
        return (
            f"{described}; the token service expects {self.expected_endpoint}; "
            "set spec.aws.stsEndpoint (or --sts-endpoint) to it"
        )


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
    """Worth retrying with backoff; ``retry_after`` is the server's wait, when it sent one."""

    retryable = True

    def __init__(
        self, message: str, *, status: int | None = None, retry_after: float | None = None
    ) -> None:
        super().__init__(message, status=status)
        self.retry_after = retry_after


class RateLimited(TransientError):
    check = "token service is rate limiting requests"

    def __init__(
        self, message: str, *, status: int | None = 429, retry_after: float | None = None
    ) -> None:
        super().__init__(message, status=status, retry_after=retry_after)


class Unavailable(TransientError):
    check = "token service unavailable"


class MalformedResponse(TransientError):
    check = "token service returned a malformed response"
