"""The chain of spec checks: each refuses what it should, in order, and nothing else."""

from __future__ import annotations

from typing import Any

import pytest

from external_identity.controller.decide.checks import CHAIN, Candidate, first_problem
from tests.controller.decide.situations import (
    IDENTITY_NAME,
    NAMESPACE,
    binding_spec,
    identity_spec,
)


def candidate(
    binding: dict[str, Any] | None = None, identity: dict[str, Any] | None = None, *,
    missing: bool = False, alone: bool = False,
) -> Candidate:
    return Candidate(
        namespace=NAMESPACE,
        spec=None if alone else binding_spec(**(binding or {})),
        identity_name=IDENTITY_NAME,
        identity_spec=None if missing else identity_spec(**(identity or {})),
    )


def test_the_chain_names_each_check_once_in_the_order_it_runs() -> None:
    assert [check.name for check in CHAIN] == [
        "binding-spec", "identity", "identity-spec", "sa-name", "namespace", "ttl"]


@pytest.mark.parametrize(("binding", "identity"), [
    ({"ttl": 600}, {"allowedNamespaces": ["pay*"]}),
    ({"ttl": 3600}, {"maxTTL": 3600}),
    ({"serviceAccountName": "api"}, {"credentials": {"source": "ServiceAccount"}}),
], ids=["pattern", "ttl at the maximum", "per-workload"])
def test_a_binding_its_identity_allows_passes_every_check(
    binding: dict[str, Any], identity: dict[str, Any],
) -> None:
    accepted = candidate(binding, identity)
    assert [check.judge(accepted) for check in CHAIN] == [None] * len(CHAIN)
    assert first_problem(accepted) is None


@pytest.mark.parametrize(("binding", "identity", "reason", "words", "revokes"), [
    ({"serviceAccountId": "x"}, {}, "InvalidSpec", "spec.serviceAccountId", False),
    ({}, {"defaultTTL": 10, "maxTTL": 5}, "InvalidSpec",
     "ExternalIdentity 'prod-aws' is invalid: spec: defaultTTL must not exceed maxTTL", False),
    ({}, {"credentials": {"source": "ServiceAccount"}}, "InvalidSpec",
     "set spec.serviceAccountName to a ServiceAccount in namespace 'payments'", False),
    ({}, {"allowedNamespaces": []}, "NamespaceNotAllowed",
     "does not allow namespace 'payments'", True),
    ({"ttl": 7200}, {"maxTTL": 3600}, "InvalidSpec",
     "spec.ttl (7200s) exceeds ExternalIdentity 'prod-aws' maxTTL (3600s)", False),
])
def test_each_check_refuses_with_its_reason_and_a_message_naming_the_fix(
    binding: dict[str, Any], identity: dict[str, Any], reason: str, words: str, revokes: bool,
) -> None:
    problem = first_problem(candidate(binding, identity))
    assert problem is not None
    assert (problem.reason, problem.revokes) == (reason, revokes)
    assert words in problem.message


def test_a_missing_identity_revokes_and_says_how_to_fix_the_reference() -> None:
    problem = first_problem(candidate(missing=True))
    assert problem is not None
    assert (problem.reason, problem.revokes) == ("IdentityNotFound", True)
    assert "fix spec.externalIdentityRef.name" in problem.message


def test_an_earlier_check_wins_over_a_later_one() -> None:
    both = candidate({"ttl": 7200}, {"maxTTL": 3600, "allowedNamespaces": []})
    problem = first_problem(both)
    assert problem is not None and problem.reason == "NamespaceNotAllowed"


def test_an_identity_alone_runs_only_the_checks_that_need_no_binding() -> None:
    alone = candidate(identity={"allowedNamespaces": []}, alone=True)
    assert first_problem(alone) is None
    broken = candidate(identity={"defaultTTL": 10, "maxTTL": 5}, alone=True)
    problem = first_problem(broken)
    assert problem is not None and problem.reason == "InvalidSpec"
    assert {check.name for check in CHAIN if not check.needs_binding} == {
        "identity", "identity-spec"}


def test_the_binding_is_parsed_once_with_its_own_namespace() -> None:
    checked = candidate({"serviceAccountName": "api"})
    assert first_problem(checked) is None
    assert checked.binding is checked.binding
    assert checked.binding.namespace == NAMESPACE
