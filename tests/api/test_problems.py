"""problem_for(): every error in the tree becomes a condition reason and a retry policy."""

from __future__ import annotations

import pytest

from external_identity.api import conditions
from external_identity.api.problems import KUBERNETES_RETRY_CAP, problem_for
from external_identity.errors import (
    ConfigurationError,
    CredentialsUnavailable,
    EndpointMismatch,
    ExternalIdentityError,
    MalformedResponse,
    NamespaceTerminating,
    NotFound,
    RateLimited,
    RequestRejected,
    SecretConflict,
    SecretWriteError,
    StatusWriteError,
    TokenServiceError,
    Unavailable,
    UntrustedPrincipal,
)

PRINCIPAL = "arn:aws:iam::123456789012:role/payments"


@pytest.mark.parametrize(
    "error",
    [RequestRejected("no", status=400), UntrustedPrincipal("who are you", status=403),
     NotFound("no such account", status=404), EndpointMismatch("wrong endpoint")],
    ids=["rejected", "untrusted", "not found", "endpoint mismatch"],
)
def test_a_rejected_request_is_not_retried_soon_and_names_who_was_refused(
    error: RequestRejected,
) -> None:
    error.principal = PRINCIPAL
    error.retry_after = 120
    problem = problem_for(error)
    assert problem.reason == conditions.REJECTED
    assert problem.message == str(error)
    assert not problem.retryable
    assert (problem.principal, problem.retry_after) == (PRINCIPAL, 120)
    assert not problem.revokes


def test_someone_elses_secret_is_a_conflict_that_waits_for_a_human() -> None:
    problem = problem_for(SecretConflict("Secret payments/x is not ours"))
    assert (problem.reason, problem.message) == (conditions.SECRET_CONFLICT,
                                                 "Secret payments/x is not ours")
    assert not problem.retryable
    assert problem.retry_cap is None


def test_a_terminating_namespace_is_not_retried_soon() -> None:
    problem = problem_for(NamespaceTerminating("namespace payments is being terminated"))
    assert problem.reason == conditions.EXCHANGE_FAILED
    assert not problem.retryable


@pytest.mark.parametrize(
    "error",
    [SecretWriteError("cannot create Secret payments/x: Kubernetes API unreachable"),
     StatusWriteError("cannot patch status: 503 ServiceUnavailable")],
    ids=["secret", "status"],
)
def test_kubernetes_write_failures_are_retried_within_the_kubernetes_cap(
    error: ExternalIdentityError,
) -> None:
    problem = problem_for(error)
    assert problem.reason == conditions.EXCHANGE_FAILED
    assert problem.message == f"{error}; retrying"
    assert problem.retryable
    assert problem.retry_cap == KUBERNETES_RETRY_CAP


def test_our_own_bad_input_is_an_invalid_spec() -> None:
    problem = problem_for(ConfigurationError("spec.ttl: Input should be greater than 0"))
    assert (problem.reason, problem.message) == (conditions.INVALID_SPEC,
                                                 "spec.ttl: Input should be greater than 0")
    assert not problem.retryable


def test_missing_cloud_credentials_are_retried_with_backoff() -> None:
    problem = problem_for(CredentialsUnavailable("no AWS credentials found"))
    assert problem.reason == conditions.CREDENTIALS_UNAVAILABLE
    assert problem.message == "no AWS credentials found"
    assert problem.retryable
    assert problem.retry_cap is None


@pytest.mark.parametrize(
    "error",
    [RateLimited("slow down", retry_after=30.0),
     Unavailable("busy", status=503, retry_after=30.0)],
    ids=["429", "503"],
)
def test_a_transient_token_service_error_carries_its_retry_after(error: TokenServiceError) -> None:
    error.principal = PRINCIPAL
    problem = problem_for(error)
    assert problem.reason == conditions.EXCHANGE_FAILED
    assert problem.message == f"{error}; retrying"
    assert problem.retryable
    assert (problem.retry_after, problem.principal) == (30.0, PRINCIPAL)
    assert problem.retry_cap is None


def test_a_transient_error_without_retry_after_leaves_the_delay_to_backoff() -> None:
    problem = problem_for(MalformedResponse("200 without authentication"))
    assert problem.retryable
    assert problem.retry_after is None


def test_an_unclassified_token_service_error_keeps_its_own_retry_policy() -> None:
    problem = problem_for(TokenServiceError("teapot", status=418))
    assert problem.reason == conditions.EXCHANGE_FAILED
    assert "HTTP 418" in problem.message
    assert not problem.retryable
