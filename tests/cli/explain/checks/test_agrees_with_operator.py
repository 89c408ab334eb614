"""``explain -f`` refuses exactly what the operator refuses, with the same reason and message.

For every link of the operator's decision chain there is a binding and identity that fail
that link and no earlier one. The operator's own :func:`decide` refuses each; ``explain`` run
on the same objects stops at that link and prints the operator's reason and message. A spec
the operator accepts passes every link in ``explain`` too.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from external_identity.api.crdschema import check_object
from external_identity.controller.decide.checks import CHAIN
from external_identity.controller.decide.decisions import decide
from external_identity.controller.decide.plans import Exchange, Refuse
from tests.cli.explain.explaining import explain, lines_of, manifest
from tests.controller.decide.situations import (
    IDENTITY_NAME,
    NAMESPACE,
    SA,
    binding_spec,
    identity_spec,
    situation,
)

API_VERSION = "externalidentity.dev/v1alpha1"


@dataclass(frozen=True)
class Sample:
    """An identity spec and a binding spec: changes to the defaults of ``situations``."""

    identity: dict[str, Any] = field(default_factory=dict)
    binding: dict[str, Any] = field(default_factory=dict)


#: A sample that fails each link of the chain and passes every link before it.
FAILING: dict[str, Sample] = {
    "binding-spec": Sample(binding={"serviceAccountId": "not-a-uuid"}),
    "identity": Sample(binding={"externalIdentityRef": {"name": "missing"}}),
    "identity-spec": Sample(identity={"defaultTTL": 7200, "maxTTL": 3600}),
    "sa-name": Sample(identity={"credentials": {"source": "ServiceAccount"}}),
    "namespace": Sample(identity={"allowedNamespaces": ["team-*"]}),
    "service-account": Sample(identity={"serviceAccounts": [{"id": SA, "namespaces": ["orders"]}]}),
    "ttl": Sample(identity={"maxTTL": 3600}, binding={"ttl": 7200}),
}


def _objects(sample: Sample) -> tuple[dict[str, Any], dict[str, Any]]:
    identity = {
        "apiVersion": API_VERSION, "kind": "ExternalIdentity",
        "metadata": {"name": IDENTITY_NAME}, "spec": identity_spec(**sample.identity),
    }
    binding = {
        "apiVersion": API_VERSION, "kind": "ServiceAccountBinding",
        "metadata": {"name": "api-token", "namespace": NAMESPACE},
        "spec": binding_spec(**sample.binding),
    }
    return identity, binding


def _operator_plan(sample: Sample) -> Exchange | Refuse:
    identity, binding = _objects(sample)
    referenced = binding["spec"].get("externalIdentityRef", {}).get("name")
    known = identity if referenced == IDENTITY_NAME else None
    plan = decide(situation(spec=binding["spec"], identity=known))
    assert isinstance(plan, Exchange | Refuse), plan
    return plan


def _explain(capsys: pytest.CaptureFixture[str], tmp_path: Path, sample: Sample) -> Any:
    return explain(capsys, "-f", manifest(tmp_path, *_objects(sample)))


def test_every_link_of_the_chain_has_a_failing_sample() -> None:
    assert sorted(FAILING) == sorted(check.name for check in CHAIN)


@pytest.mark.parametrize("check", [check.name for check in CHAIN])
def test_explain_stops_where_the_operator_refuses_with_its_reason_and_message(
    capsys: pytest.CaptureFixture[str], tmp_path: Path, check: str
) -> None:
    sample = FAILING[check]
    plan = _operator_plan(sample)
    assert isinstance(plan, Refuse), f"the operator should refuse the {check} sample"
    problem = plan.problem
    result = _explain(capsys, tmp_path, sample)
    assert result.code == 2, result.out + result.err
    identity, binding = _objects(sample)
    if check == "identity":
        # -f reads the identity from the files: one they lack is an input error, as a missing
        # object is for `kubectl apply`; the operator says IdentityNotFound.
        assert problem.reason == "IdentityNotFound"
        assert result.err == "error: the files hold no ExternalIdentity named 'missing'\n"
        return
    if check_object(identity).errors or check_object(binding).errors:
        # The API server refuses the object before the operator could: explain says so first.
        assert check in ("binding-spec", "identity-spec"), "only spec parsing may be pre-empted"
        assert problem.reason == "InvalidSpec"
        assert list(lines_of(result.out))[-1] == "schema", result.out
        return
    report = lines_of(result.out)
    assert list(report)[-1] == check, result.out
    assert f"{problem.reason}: {problem.message}" in " ".join(report[check].split())


def test_a_spec_the_operator_accepts_passes_every_link_in_explain(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    sample = Sample(identity={"allowedNamespaces": [NAMESPACE], "maxTTL": 7200},
                    binding={"ttl": 7200, "serviceAccountId": SA})
    assert isinstance(_operator_plan(sample), Exchange)
    report = lines_of(_explain(capsys, tmp_path, sample).out)
    for check in CHAIN:
        assert report[check.name].startswith("ok"), report[check.name]


def test_explain_names_the_entry_that_leaves_the_bindings_namespace_out(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    accounts = [{"id": "11111111-2222-3333-4444-555555555555"},
                {"id": SA, "namespaces": ["orders", "team-*"]}]
    result = _explain(capsys, tmp_path, Sample(identity={"serviceAccounts": accounts}))
    assert result.code == 2
    seen = " ".join(lines_of(result.out)["service-account"].split())
    assert seen.startswith("FAILED service-account ServiceAccountNotAllowed:"), seen
    assert f"serviceAccounts[1] (id {SA}) allows namespaces [orders, team-*]" in seen
    assert f"add {NAMESPACE!r} to that entry's namespaces" in seen


@pytest.mark.parametrize(("accounts", "says"), [
    ([{"id": SA, "namespaces": ["pay*"]}],
     f"{SA} is allowed by serviceAccounts[0] (id {SA}, namespaces [pay*])"),
    ([{"id": "11111111-2222-3333-4444-555555555555"}, {"id": "*"}],
     f"{SA} is allowed by serviceAccounts[1] (id *, every allowed namespace)"),
], ids=["by id", "by *"])
def test_explain_names_the_entry_that_allows_the_binding(
    capsys: pytest.CaptureFixture[str], tmp_path: Path, accounts: list[dict[str, Any]], says: str,
) -> None:
    result = _explain(capsys, tmp_path, Sample(identity={"serviceAccounts": accounts}))
    seen = " ".join(lines_of(result.out)["service-account"].split())
    assert seen == f"ok service-account {says}"


def test_the_identity_spec_failure_reaches_the_chain_when_the_crd_admits_it(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    """Not every operator rule is a CRD rule: per-workload identity without a ServiceAccount
    name is admitted by the API server, and explain reports the operator's own refusal."""
    sample = FAILING["sa-name"]
    identity, binding = _objects(sample)
    assert not check_object(identity).errors and not check_object(binding).errors
    assert lines_of(_explain(capsys, tmp_path, sample).out)["sa-name"].startswith("FAILED")
