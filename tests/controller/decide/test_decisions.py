"""decide() and its timing: the ordered checks, held tokens, restarts and backoff. No I/O."""

from __future__ import annotations

from dataclasses import replace
from datetime import timedelta
from typing import Any

import pytest

from external_identity.api import conditions
from external_identity.api.times import rfc3339
from external_identity.controller.decide.backoffs import Backoff
from external_identity.controller.decide.decisions import decide
from external_identity.controller.decide.fingerprints import inputs_key
from external_identity.controller.decide.plans import (
    Adopt,
    Exchange,
    Held,
    Refuse,
    Relabel,
    Repair,
    Suspend,
    Wait,
)
from external_identity.controller.settings import OperatorSettings
from external_identity.secrets.data import IDENTITY_ANNOTATION, MANAGED_BY_LABEL
from tests.controller.decide.situations import (
    ISSUED,
    NAMESPACE,
    NOW,
    SECRET_NAME,
    TTL,
    UID,
    binding_spec,
    conflict,
    failing_status,
    held,
    identity_body,
    inputs,
    ready_status,
    situation,
    stored,
    stored_like,
    target,
)


def refused(plan: object, reason: str) -> Refuse:
    assert isinstance(plan, Refuse), plan
    assert plan.problem.reason == reason, plan.problem
    return plan


# -- the checks, in order -------------------------------------------------------------------


def test_an_invalid_binding_spec_is_refused_before_anything_else() -> None:
    plan = decide(situation(spec=binding_spec(serviceAccountId="nope"), identity=None,
                            stored=stored()))
    refusal = refused(plan, conditions.INVALID_SPEC)
    assert "spec.serviceAccountId" in refusal.problem.message
    assert refusal.revoke is None


def test_a_missing_identity_is_refused_and_our_secret_is_deleted() -> None:
    refusal = refused(decide(situation(identity=None, stored=stored())),
                      conditions.IDENTITY_NOT_FOUND)
    assert refusal.revoke is not None
    assert (refusal.revoke.namespace, refusal.revoke.name, refusal.revoke.owner_key) == (
        NAMESPACE, SECRET_NAME, UID)


def test_a_missing_identity_deletes_nothing_when_there_is_no_secret() -> None:
    assert refused(decide(situation(identity=None)), conditions.IDENTITY_NOT_FOUND).revoke is None


def test_an_invalid_identity_spec_is_refused_and_the_secret_kept() -> None:
    plan = decide(situation(identity=identity_body(provider="gcp"), stored=stored()))
    refusal = refused(plan, conditions.INVALID_SPEC)
    assert "is invalid" in refusal.problem.message and "spec.provider" in refusal.problem.message
    assert refusal.revoke is None


def test_per_workload_credentials_without_a_service_account_name_are_an_invalid_spec() -> None:
    identity = identity_body(credentials={"source": "ServiceAccount"})
    refusal = refused(decide(situation(identity=identity, stored=stored())),
                      conditions.INVALID_SPEC)
    assert "spec.serviceAccountName" in refusal.problem.message
    assert refusal.revoke is None


def test_per_workload_credentials_exchange_as_the_bindings_service_account() -> None:
    identity = identity_body(credentials={"source": "ServiceAccount"})
    spec = binding_spec(serviceAccountName="api", namespace="elsewhere")
    plan = decide(situation(spec=spec, identity=identity))
    assert isinstance(plan, Exchange), plan
    assert (plan.binding.namespace, plan.binding.service_account_name) == (NAMESPACE, "api")


def test_a_namespace_the_identity_does_not_allow_is_refused_and_our_secret_deleted() -> None:
    identity = identity_body(allowedNamespaces=["team-*"], maxTTL=60, defaultTTL=60)
    plan = decide(situation(spec=binding_spec(ttl=120), identity=identity, stored=stored()))
    refusal = refused(plan, conditions.NAMESPACE_NOT_ALLOWED)
    assert refusal.revoke is not None and refusal.revoke.name == SECRET_NAME
    without_secret = refused(decide(situation(identity=identity)), conditions.NAMESPACE_NOT_ALLOWED)
    assert without_secret.revoke is None


def test_a_ttl_above_the_identity_max_ttl_is_an_invalid_spec() -> None:
    plan = decide(situation(spec=binding_spec(ttl=7201), stored=conflict()))
    assert "exceeds" in refused(plan, conditions.INVALID_SPEC).problem.message
    assert isinstance(decide(situation(spec=binding_spec(ttl=7200))), Exchange)


def test_someone_elses_secret_is_refused_as_a_conflict_and_never_deleted() -> None:
    refusal = refused(decide(situation(stored=conflict(), held=held())), conditions.SECRET_CONFLICT)
    assert refusal.revoke is None
    assert not refusal.problem.retryable


def test_a_revoking_check_never_deletes_someone_elses_secret() -> None:
    plan = decide(situation(identity=None, stored=conflict()))
    assert refused(plan, conditions.IDENTITY_NOT_FOUND).revoke is None


# -- a token held in memory -----------------------------------------------------------------


def test_a_fresh_held_token_with_an_intact_secret_waits_for_its_refresh_time() -> None:
    token = held()
    assert decide(situation(held=token, stored=stored_like(token))) == Wait(token.refresh_at)


@pytest.mark.parametrize(
    "found", [None, stored_like(held(), intact=False), stored(issued_at=ISSUED - timedelta(1))],
    ids=["deleted", "edited", "replaced"],
)
def test_a_held_token_whose_secret_changed_is_written_back(found: Any) -> None:
    assert decide(situation(held=held(), stored=found)) == Repair(held())


def test_a_held_token_is_repaired_even_while_backing_off() -> None:
    token = held()
    backoff = Backoff(failures=1, retry_at=NOW + timedelta(minutes=5), inputs=inputs())
    assert decide(situation(held=token, backoff=backoff)) == Repair(token)


@pytest.mark.parametrize("with_token", [True, False], ids=["held", "adopted"])
def test_new_secret_labels_are_put_on_the_secret_without_a_new_token(with_token: bool) -> None:
    token = held(with_token=with_token)
    spec = binding_spec(secret={"name": SECRET_NAME, "labels": {"team": "payments"}})
    plan = decide(situation(spec=spec, held=token, stored=stored_like(token)))
    relabelled = replace(token.target, labels={"team": "payments"})
    assert plan == Relabel(replace(token, target=relabelled), {"labels": {"team": "payments"}})


@pytest.mark.parametrize("with_token", [True, False], ids=["held", "adopted"])
def test_a_secret_that_lost_our_label_and_an_annotation_gets_them_back(with_token: bool) -> None:
    token = held(with_token=with_token)
    stored = stored_like(token)
    annotations = {k: v for k, v in stored.annotations.items() if k != IDENTITY_ANNOTATION}
    plan = decide(situation(held=token, stored=replace(stored, labels={},
                                                        annotations=annotations)))
    assert plan == Relabel(token, {"labels": dict([MANAGED_BY_LABEL]),
                                   "annotations": {IDENTITY_ANNOTATION: token.target.identity}})


def test_after_a_restart_a_secret_that_lost_its_label_is_adopted_and_relabelled() -> None:
    token = held(with_token=False)
    stored = replace(stored_like(token), labels={})
    plan = decide(situation(status=ready_status(), stored=stored))
    assert isinstance(plan, Adopt)
    assert plan.relabel == {"labels": dict([MANAGED_BY_LABEL])}


def test_an_adopted_token_whose_secret_was_edited_is_exchanged_not_repaired() -> None:
    token = held(with_token=False)
    plan = decide(situation(held=token, stored=stored_like(token, intact=False)))
    assert isinstance(plan, Exchange)


def test_a_held_token_due_for_refresh_is_exchanged() -> None:
    token = held()
    plan = decide(situation(held=token, stored=stored_like(token), now=token.refresh_at))
    assert isinstance(plan, Exchange)
    assert plan.target == token.target
    assert not plan.revoke_on_failure


def test_an_expired_held_token_is_exchanged_rather_than_written_back() -> None:
    token = held()
    assert isinstance(decide(situation(held=token, now=token.expires_at)), Exchange)


OTHER_ACCOUNT = "11111111-2222-3333-4444-555555555555"
CHANGED_INPUTS: dict[str, tuple[dict[str, Any], dict[str, Any]]] = {
    "identity token service": ({}, {"tokenService": {"host": "https://other.example.com"}}),
    "identity region": ({}, {"aws": {"region": "us-east-1"}}),
    "identity default ttl": ({}, {"defaultTTL": 900}),
    "binding ttl": ({"ttl": 1800}, {}),
    "service account": ({"serviceAccountId": OTHER_ACCOUNT},
                        {"serviceAccounts": [{"id": OTHER_ACCOUNT}]}),
}


@pytest.mark.parametrize("change", CHANGED_INPUTS.values(), ids=CHANGED_INPUTS.keys())
def test_a_held_token_issued_for_other_inputs_is_exchanged(
    change: tuple[dict[str, Any], dict[str, Any]],
) -> None:
    token = held()
    spec, identity = binding_spec(**change[0]), identity_body(**change[1])
    plan = decide(situation(spec=spec, identity=identity, held=token, stored=stored_like(token)))
    assert isinstance(plan, Exchange)
    assert plan.target.issued_for != token.issued_for
    assert not plan.revoke_on_failure


@pytest.mark.parametrize(
    "change",
    [{"description": "moved to team B"}, {"allowedNamespaces": ["payments", "team-*"]}],
    ids=["description", "allowed namespaces"],
)
def test_an_identity_change_that_mints_the_same_token_keeps_the_held_one(
    change: dict[str, Any],
) -> None:
    token = held()
    plan = decide(situation(identity=identity_body(**change), held=token,
                            stored=stored_like(token)))
    assert plan == Wait(token.refresh_at)


# -- after a restart: nothing held ----------------------------------------------------------


def test_after_a_restart_a_secret_issued_for_these_inputs_is_adopted() -> None:
    refresh_at = ISSUED + timedelta(seconds=2000)
    status = ready_status(nextRefreshTime=rfc3339(refresh_at))
    plan = decide(situation(stored=stored(), status=status))
    expected = Held(target=target(), issued_at=ISSUED, expires_at=ISSUED + timedelta(seconds=TTL),
                    refresh_at=refresh_at)
    assert plan == Adopt(expected, ready=True)


@pytest.mark.parametrize(
    "next_refresh", [None, rfc3339(ISSUED + timedelta(seconds=TTL)), "soon"],
    ids=["absent", "at expiry", "unreadable"],
)
def test_an_adopted_token_without_a_usable_status_time_refreshes_per_operator_settings(
    next_refresh: str | None,
) -> None:
    status = ready_status(nextRefreshTime=next_refresh)
    plan = decide(situation(stored=stored(), status=status,
                            settings=OperatorSettings(refresh_percent=20, jitter_fraction=0.5)))
    assert isinstance(plan, Adopt)
    assert plan.held.refresh_at == ISSUED + timedelta(seconds=720)


@pytest.mark.parametrize("status", [failing_status(), {}], ids=["failing", "no status"])
def test_an_adopted_token_is_ready_only_if_the_status_said_so(status: dict[str, Any]) -> None:
    plan = decide(situation(stored=stored(), status=status))
    assert isinstance(plan, Adopt)
    assert plan.ready is False


def test_after_a_restart_a_secret_issued_for_other_inputs_is_exchanged() -> None:
    before = target(identity=identity_body(tokenService={"host": "https://old.example.com"}))
    plan = decide(situation(stored=stored(issued_for=before.issued_for), status=ready_status()))
    assert isinstance(plan, Exchange)
    assert not plan.revoke_on_failure


@pytest.mark.parametrize(
    "found",
    [stored(issued_at=NOW - timedelta(seconds=TTL)), stored(intact=False), stored(issued_at=None)],
    ids=["expired", "edited", "no times"],
)
def test_after_a_restart_a_stored_token_that_cannot_be_trusted_is_exchanged(found: Any) -> None:
    assert isinstance(decide(situation(stored=found, status=ready_status())), Exchange)


def test_a_token_minted_through_another_identity_is_deleted_if_the_exchange_fails() -> None:
    elsewhere = target(spec=binding_spec(externalIdentityRef={"name": "old-identity"}))
    plan = decide(situation(stored=stored(identity="old-identity",
                                          issued_for=elsewhere.issued_for)))
    assert isinstance(plan, Exchange)
    assert plan.revoke_on_failure


def test_a_secret_without_a_recorded_identity_is_kept_if_the_exchange_fails() -> None:
    plan = decide(situation(stored=stored(identity="", issued_for="")))
    assert isinstance(plan, Exchange)
    assert not plan.revoke_on_failure


# -- backoff --------------------------------------------------------------------------------

RETRY_AT = NOW + timedelta(seconds=30)


def test_a_backoff_with_unchanged_inputs_waits_until_its_retry_time() -> None:
    backoff = Backoff(failures=2, retry_at=RETRY_AT, inputs=inputs())
    assert decide(situation(backoff=backoff)) == Wait(RETRY_AT)
    assert isinstance(decide(situation(backoff=backoff, now=RETRY_AT)), Exchange)


def test_a_refusal_backs_off_instead_of_repeating_itself() -> None:
    backoff = Backoff(failures=1, retry_at=RETRY_AT, inputs=inputs(identity=None))
    assert decide(situation(identity=None, backoff=backoff)) == Wait(RETRY_AT)


def test_a_revocation_is_not_delayed_by_a_backoff() -> None:
    backoff = Backoff(failures=1, retry_at=RETRY_AT, inputs=inputs(identity=None))
    plan = decide(situation(identity=None, stored=stored(), backoff=backoff))
    assert refused(plan, conditions.IDENTITY_NOT_FOUND).revoke is not None


@pytest.mark.parametrize(
    "changed",
    [{"generation": 2}, {"identity": identity_body(defaultTTL=60)},
     {"identity": identity_body(description="fixed")}],
    ids=["binding generation", "identity spec", "identity description"],
)
def test_changed_inputs_cut_a_backoff_short(changed: dict[str, Any]) -> None:
    backoff = Backoff(failures=4, retry_at=RETRY_AT, inputs=inputs())
    assert isinstance(decide(situation(backoff=backoff, **changed)), Exchange)



def test_a_refresh_policy_change_alone_keeps_the_planned_refresh_time() -> None:
    token = replace(held(), refresh_at=ISSUED + timedelta(seconds=3000))
    spec = binding_spec(refreshPolicy={"refreshAtPercent": 10})
    assert decide(situation(spec=spec, generation=2, held=token,
                            stored=stored_like(token))) == Wait(token.refresh_at)


# -- suspend and refresh requests -----------------------------------------------------------


def test_a_suspended_binding_is_left_alone_even_when_its_token_is_due() -> None:
    token = held()
    found = stored_like(token)
    plan = decide(situation(spec=binding_spec(suspend=True), held=token, stored=found,
                            now=token.refresh_at + timedelta(seconds=1)))
    assert isinstance(plan, Suspend)
    assert "spec.suspend" in plan.message and rfc3339(token.expires_at) in plan.message


def test_a_suspended_binding_whose_access_was_revoked_still_loses_its_secret() -> None:
    token = held()
    plan = decide(situation(spec=binding_spec(suspend=True), identity=None,
                            stored=stored_like(token)))
    assert refused(plan, conditions.IDENTITY_NOT_FOUND).revoke is not None


def test_a_new_refresh_request_exchanges_even_though_the_token_is_fresh() -> None:
    token = held()
    plan = decide(situation(held=token, stored=stored_like(token), refresh_request="1"))
    assert isinstance(plan, Exchange)


def test_a_handled_refresh_request_changes_nothing() -> None:
    token = held()
    plan = decide(situation(held=token, stored=stored_like(token), refresh_request="1",
                            status={"handledRefreshRequest": "1"}))
    assert plan == Wait(token.refresh_at)


def test_a_refresh_request_after_a_restart_does_not_adopt_the_old_token() -> None:
    token = held(with_token=False)
    plan = decide(situation(stored=stored_like(token), refresh_request="again",
                            status=ready_status(nextRefreshTime=rfc3339(token.refresh_at))))
    assert isinstance(plan, Exchange)


def test_a_refresh_request_that_failed_backs_off_but_a_newer_one_does_not() -> None:
    backoff = Backoff(failures=1, retry_at=NOW + timedelta(minutes=5),
                      inputs=inputs_key(1, identity_body(), "1"))
    assert decide(situation(backoff=backoff, refresh_request="1")) == Wait(backoff.retry_at)
    assert isinstance(decide(situation(backoff=backoff, refresh_request="2")), Exchange)
