"""The chain of spec checks: each refuses what it should, in order, and nothing else."""

from __future__ import annotations

from typing import Any

import pytest

from external_identity.controller.decide.checks import CHAIN, Candidate, first_problem
from tests.controller.decide.situations import (
    IDENTITY_NAME,
    NAMESPACE,
    SA,
    binding_spec,
    identity_spec,
)

OTHER = "11111111-2222-3333-4444-555555555555"


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
        "binding-spec", "identity", "identity-spec", "sa-name", "namespace", "service-account",
        "ttl"]


@pytest.mark.parametrize(("binding", "identity"), [
    ({"ttl": 600}, {"allowedNamespaces": ["pay*"]}),
    ({"ttl": 3600}, {"maxTTL": 3600}),
    ({"serviceAccountName": "api"}, {"credentials": {"source": "ServiceAccount"}}),
    ({}, {"serviceAccounts": [{"id": OTHER}, {"id": SA.upper(), "namespaces": ["pay*"]}]}),
    ({}, {"serviceAccounts": [{"id": "*"}]}),
    ({"serviceAccountName": "api"},
     {"credentials": {"source": "ServiceAccount"}, "serviceAccounts": None}),
], ids=["pattern", "ttl at the maximum", "per-workload", "listed account", "any account",
        "per-workload without accounts"])
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
    ({}, {"serviceAccounts": [{"id": OTHER}]}, "ServiceAccountNotAllowed",
     f"does not list service account {SA} in spec.serviceAccounts; ask an admin to add "
     f"{{id: {SA}, namespaces: [payments]}} to it", True),
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


def refusal(identity: dict[str, Any], binding: dict[str, Any] | None = None) -> str:
    problem = first_problem(candidate(binding, identity))
    assert problem is not None
    assert (problem.reason, problem.revokes) == ("ServiceAccountNotAllowed", True)
    return problem.message


def test_an_operator_identity_listing_no_accounts_allows_none_and_says_how_to_list_them() -> None:
    message = refusal({"serviceAccounts": None})
    assert message == (
        "ExternalIdentity 'prod-aws' lists no spec.serviceAccounts, so with credentials.source "
        f"Operator it mints for no Phase service account; ask an admin to add {{id: {SA}, "
        "namespaces: [payments]} to spec.serviceAccounts")


def test_a_per_workload_identity_that_lists_accounts_allows_only_those() -> None:
    workload = {"credentials": {"source": "ServiceAccount"}, "serviceAccounts": [{"id": OTHER}]}
    assert f"does not list service account {SA}" in refusal(workload, {"serviceAccountName": "a"})


@pytest.mark.parametrize("accounts", [
    [{"id": SA, "namespaces": ["orders"]}],
    [{"id": SA, "namespaces": []}],
    [{"id": OTHER}, {"id": "*", "namespaces": ["team-*"]}],
], ids=["other namespace", "no namespace", "any account elsewhere"])
def test_an_entry_whose_namespaces_leave_the_binding_out_refuses_it(
    accounts: list[dict[str, Any]],
) -> None:
    assert f"does not allow service account {SA} in namespace 'payments'" in refusal(
        {"serviceAccounts": accounts})


def test_the_refusal_names_each_entry_for_the_account_and_the_namespaces_it_allows() -> None:
    accounts = [{"id": OTHER}, {"id": SA, "namespaces": ["orders", "team-*"]},
                {"id": "*", "namespaces": []}]
    assert refusal({"serviceAccounts": accounts}) == (
        f"ExternalIdentity 'prod-aws' does not allow service account {SA} in namespace "
        f"'payments': serviceAccounts[1] (id {SA}) allows namespaces [orders, team-*]; "
        "serviceAccounts[2] (id *) allows namespaces []; ask an admin to add 'payments' to "
        "the namespaces of one of those entries")


def test_an_entrys_namespaces_never_widen_the_identitys_allowed_namespaces() -> None:
    identity = {"allowedNamespaces": ["orders"],
                "serviceAccounts": [{"id": SA, "namespaces": ["payments"]}]}
    problem = first_problem(candidate(identity=identity))
    assert problem is not None and problem.reason == "NamespaceNotAllowed"
