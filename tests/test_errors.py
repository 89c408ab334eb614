"""The package's one error tree: its shape, which errors are worth retrying, and what a message
may show (remote text on one line, truncated, with token-shaped substrings redacted)."""

from __future__ import annotations

import inspect
import re
import traceback

import pytest

from external_identity import errors
from external_identity.errors import (
    MAX_REMOTE_MESSAGE,
    ConfigurationError,
    CredentialsUnavailable,
    EndpointMismatch,
    ExternalIdentityError,
    InvalidRequest,
    KeyManagementDisabled,
    KubernetesApiError,
    MalformedResponse,
    NamespaceTerminating,
    NotFound,
    ProofRejected,
    RateLimited,
    RequestRejected,
    SecretConflict,
    SecretWriteError,
    SignatureExpired,
    StatusWriteError,
    TokenServiceError,
    TransientError,
    TTLTooLong,
    Unavailable,
    UntrustedPrincipal,
    redact,
)

SERVICE_TOKEN = "pss_service:v2:3f9c2b7e0d0a4c1e9b5a6d7c:feedfacecafebeef0123456789abcdef"
USER_TOKEN = "pss_user:v1:0123456789abcdef:fedcba9876543210"
BEARER = "ServiceAccount 3f9c2b7e0d0a4c1e9b5a6d7c8e9f0a1b"
JWT = "eyJhbGciOiJSUzI1NiJ9.eyJzdWIiOiJzeXN0ZW06c2EifQ.c2lnbmF0dXJlLXBhcnQ"
ACCESS_KEY = "ASIAQWERTYUIOPASDFGH"
LONG_TERM_KEY = "AKIAIOSFODNN7EXAMPLE"
SIGNATURE = "Signature=5d672d79c15b13162d9279b0855cfba6789a8edb4c82c400e06b5924a6f2b5d7"
SECRETS = (SERVICE_TOKEN, USER_TOKEN, BEARER, JWT, ACCESS_KEY, LONG_TERM_KEY, SIGNATURE)


# -- redact -----------------------------------------------------------------------------------


@pytest.mark.parametrize("secret", SECRETS)
def test_each_token_shape_is_replaced_by_a_marker(secret: str) -> None:
    assert redact(f"refused {secret} for you") == "refused [redacted] for you"


def test_a_jwt_without_a_signature_part_is_still_redacted() -> None:
    header_and_claims = JWT.rsplit(".", 1)[0]
    assert redact(f"token {header_and_claims} was bad") == "token [redacted] was bad"


@pytest.mark.parametrize("text", [
    "Untrusted principal",
    "ServiceAccount payments/api does not exist",
    "arn:aws:sts::123456789012:assumed-role/phase-operator/operator-pod",
    "Signature expired",
    "AKIA is a prefix, not a key",
    "https://sts.eu-west-1.amazonaws.com",
])
def test_ordinary_text_is_left_as_it_is(text: str) -> None:
    assert redact(text) == text


def test_long_text_is_cut_at_the_limit_and_marked_as_cut() -> None:
    shown = redact("x" * 1000)
    assert shown == "x" * MAX_REMOTE_MESSAGE + "…"


def test_text_exactly_at_the_limit_is_not_cut() -> None:
    assert redact("y" * MAX_REMOTE_MESSAGE) == "y" * MAX_REMOTE_MESSAGE


def test_a_token_straddling_the_limit_is_redacted_before_the_cut_so_no_part_of_it_shows() -> None:
    text = "z" * (MAX_REMOTE_MESSAGE - 20) + " " + SERVICE_TOKEN
    shown = redact(text)
    assert "pss_service" not in shown and SERVICE_TOKEN[:20] not in shown
    assert shown.endswith("[redacted]")


def test_a_limit_of_its_own_applies_and_surrounding_space_goes() -> None:
    assert redact("   abcdefghij   ", limit=4) == "abcd…"
    assert redact("  short  ", limit=80) == "short"


# -- the tree ---------------------------------------------------------------------------------


def _tree_in_docstring() -> dict[str, str]:
    """``{class name: parent name}`` as drawn in the module docstring."""
    parents: dict[str, str] = {}
    stack: list[tuple[int, str]] = []
    for line in (errors.__doc__ or "").splitlines():
        match = re.match(r"^(?P<lead>[\s│├└─]*)(?P<name>[A-Z][A-Za-z]+)(?:\s|$)", line)
        if match is None or not hasattr(errors, match["name"]):
            continue
        depth = len(match["lead"])
        while stack and stack[-1][0] >= depth:
            stack.pop()
        if stack:
            parents[match["name"]] = stack[-1][1]
        stack.append((depth, match["name"]))
    return parents


def test_the_tree_drawn_in_the_docstring_is_the_tree_of_classes() -> None:
    drawn = _tree_in_docstring()
    classes = {name: member for name, member in vars(errors).items()
               if inspect.isclass(member) and issubclass(member, ExternalIdentityError)
               and member is not ExternalIdentityError}
    assert set(drawn) == set(classes)
    actual = {name: cls.__bases__[0].__name__ for name, cls in classes.items()}
    assert drawn == actual


RETRYABLE = {
    ExternalIdentityError: False,
    ConfigurationError: False,
    CredentialsUnavailable: True,
    StatusWriteError: True,
    KubernetesApiError: True,
    SecretWriteError: True,
    SecretConflict: False,
    NamespaceTerminating: False,
    TokenServiceError: False,
    RequestRejected: False,
    InvalidRequest: False,
    EndpointMismatch: False,
    TTLTooLong: False,
    SignatureExpired: False,
    ProofRejected: False,
    UntrustedPrincipal: False,
    KeyManagementDisabled: False,
    NotFound: False,
    TransientError: True,
    RateLimited: True,
    Unavailable: True,
    MalformedResponse: True,
}


@pytest.mark.parametrize(("kind", "retryable"), RETRYABLE.items(), ids=lambda v: str(v))
def test_whether_an_error_is_worth_retrying_soon(
    kind: type[ExternalIdentityError], retryable: bool
) -> None:
    error = kind("something went wrong")
    assert error.retryable is retryable
    assert error.principal is None


def test_the_retryable_table_covers_every_error_class() -> None:
    classes = {member for member in vars(errors).values()
               if inspect.isclass(member) and issubclass(member, ExternalIdentityError)}
    assert classes == set(RETRYABLE)


def test_only_transient_errors_carry_a_retry_after_unless_told() -> None:
    assert RequestRejected("no").retry_after is None
    assert Unavailable("busy", status=503, retry_after=12.5).retry_after == 12.5
    assert Unavailable("busy").retry_after is None


# -- token service errors ---------------------------------------------------------------------


def test_a_token_service_error_names_the_check_the_status_and_the_servers_words() -> None:
    error = UntrustedPrincipal("Untrusted principal", status=403)
    assert str(error) == (
        "cloud principal is not trusted by the external identity: HTTP 403: Untrusted principal"
    )
    assert (error.status, error.server_message) == (403, "Untrusted principal")


def test_without_a_status_the_message_has_no_http_part() -> None:
    error = Unavailable("cannot connect to https://console.phase.dev")
    assert error.status is None
    assert str(error) == "token service unavailable: cannot connect to https://console.phase.dev"


def test_remote_text_is_one_line_redacted_and_truncated() -> None:
    error = InvalidRequest(f"bad\nrequest\r\n{SERVICE_TOKEN}\t" + "w " * 500, status=400)
    assert "\n" not in str(error) and "\r" not in str(error) and "\t" not in str(error)
    assert error.server_message.startswith("bad request [redacted] w w")
    assert error.server_message.endswith("…")
    assert len(error.server_message) <= MAX_REMOTE_MESSAGE + 1


@pytest.mark.parametrize("secret", SECRETS)
def test_no_secret_shows_in_the_message_repr_or_traceback(secret: str) -> None:
    error = ProofRejected(f"token {secret} rejected", status=401)
    shown = f"{error} {error!r} {error.server_message} " + "".join(
        traceback.format_exception(error)
    )
    assert secret not in shown
    assert "[redacted]" in str(error)


def test_a_rate_limit_is_a_429_that_carries_the_servers_wait() -> None:
    error = RateLimited("Request was throttled.", retry_after=30.0)
    assert (error.status, error.retry_after) == (429, 30.0)
    assert str(error) == "token service is rate limiting requests: HTTP 429: Request was throttled."


def test_an_endpoint_mismatch_names_the_expected_endpoint_and_the_field_to_set() -> None:
    error = EndpointMismatch(
        "STS endpoint mismatch.", expected_endpoint=" https://sts.eu-west-1.amazonaws.com\n"
    )
    assert error.status == 400
    assert error.expected_endpoint == "https://sts.eu-west-1.amazonaws.com"
    assert str(error) == (
        "STS endpoint does not match the identity's configured endpoint: HTTP 400: STS endpoint "
        "mismatch; the token service expects https://sts.eu-west-1.amazonaws.com; set "
        "spec.aws.stsEndpoint (or --sts-endpoint) to it"
    )


@pytest.mark.parametrize("expected", [None, "", "  \n "])
def test_an_endpoint_mismatch_without_an_expected_endpoint_still_names_the_field(
    expected: str | None,
) -> None:
    error = EndpointMismatch("STS endpoint mismatch", expected_endpoint=expected)
    assert error.expected_endpoint is None
    assert str(error).endswith(
        "set spec.aws.stsEndpoint (or --sts-endpoint) to the STS endpoint the external "
        "identity is configured with"
    )


def test_a_hostile_expected_endpoint_is_redacted_and_cut_to_two_hundred() -> None:
    error = EndpointMismatch("mismatch", expected_endpoint=f"https://x/{JWT} " + "q" * 1000)
    assert error.expected_endpoint is not None
    assert JWT not in error.expected_endpoint and "[redacted]" in error.expected_endpoint
    assert len(error.expected_endpoint) == 201 and error.expected_endpoint.endswith("…")
