"""Checking our objects against the packaged CRDs as the API server would: defaults, then the
OpenAPI schema, then the CEL rules. The reference for every verdict is tests/crds (jsonschema
and cel-python)."""

from __future__ import annotations

import copy
from typing import Any

import pytest

from external_identity.api.crdschema import check_object, load_schemas, parse_documents
from external_identity.errors import ConfigurationError
from tests.crds.objects import API_VERSION, azure_identity, binding, identity
from tests.crds.schema import load_crds, validate
from tests.crds.test_invalid_objects import INVALID_BINDINGS, INVALID_IDENTITIES

CORPUS = [(name, obj) for name, obj, *_ in INVALID_IDENTITIES + INVALID_BINDINGS] + [
    ("identity", identity()), ("azure identity", azure_identity()), ("binding", binding()),
]


@pytest.mark.parametrize(("name", "obj"), CORPUS, ids=[name for name, _ in CORPUS])
def test_schema_check_agrees_with_the_reference_validator(name: str, obj: dict[str, Any]) -> None:
    reference = [e for e in validate(load_crds()[obj["kind"]], obj) if not e.startswith("status")]
    ours = check_object(obj).errors
    assert bool(ours) == bool(reference), (ours, reference)
    assert {e.split(":")[0] for e in ours} == {e.split(":")[0] for e in reference}


# -- reading manifests -----------------------------------------------------------------------------


def test_every_non_empty_document_is_read_and_timestamps_stay_strings() -> None:
    text = "a: 2024-05-01T12:00:00Z\n---\n---\n{\"b\": 1}\n"
    assert parse_documents(text, source="f.yaml") == [{"a": "2024-05-01T12:00:00Z"}, {"b": 1}]


@pytest.mark.parametrize(
    ("text", "message"),
    [("a: [1\n", "f.yaml is not YAML"), ("- 1\n- 2\n", "f.yaml: a document is not a mapping")],
)
def test_a_text_that_is_not_manifests_is_a_configuration_error_naming_the_source(
    text: str, message: str
) -> None:
    with pytest.raises(ConfigurationError, match=message):
        parse_documents(text, source="f.yaml")


# -- the packaged CRDs -----------------------------------------------------------------------------


def test_both_kinds_are_loaded_with_where_they_are_served_and_their_rules() -> None:
    schemas = load_schemas()
    assert set(schemas) == {"ExternalIdentity", "ServiceAccountBinding"}
    assert schemas["ExternalIdentity"].api_versions == (API_VERSION,)
    assert not schemas["ExternalIdentity"].namespaced
    assert schemas["ServiceAccountBinding"].namespaced
    assert sum(len(schema.rules) for schema in schemas.values()) == 9


# -- checking one object ---------------------------------------------------------------------------


def test_a_valid_binding_counts_its_rules_and_skips_those_for_updates() -> None:
    report = check_object(binding())
    assert report.errors == ()
    assert report.rules_checked > 0
    assert report.transition_rules == 2  # secret.name and .type are immutable: updates only


def test_an_object_of_another_kind_is_not_ours() -> None:
    report = check_object({"apiVersion": "v1", "kind": "Secret", "metadata": {"name": "x"}})
    assert report.errors == ("kind: 'Secret' is not one of ours",)


@pytest.mark.parametrize(
    ("obj", "error"),
    [
        ({**identity(), "data": {}}, "data: unknown field"),
        ({**identity(), "apiVersion": "externalidentity.dev/v1"},
         "apiVersion: 'externalidentity.dev/v1' is not one of ['externalidentity.dev/v1alpha1']"),
        ({**identity(), "metadata": {"name": "Prod_AWS"}},
         "metadata.name: Required value: a DNS-1123 subdomain"),
        ({**identity(), "metadata": {"name": "a", "namespace": "default"}},
         "metadata.namespace: must be absent: ExternalIdentity is cluster-scoped"),
        ({key: value for key, value in identity().items() if key != "spec"},
         "spec: Required value"),
    ],
    ids=["unknown top-level field", "api version", "name", "namespace", "no spec"],
)
def test_the_envelope_is_checked_before_the_spec(obj: dict[str, Any], error: str) -> None:
    report = check_object(obj)
    assert error in report.errors
    assert report.rules_checked == 0


@pytest.mark.parametrize(
    ("spec", "error"),
    [
        ({"provider": "gcp"}, "spec.provider: Unsupported value 'gcp': one of"),
        ({"provider": "aws-iam", "maxTTL": "long"}, "spec.maxTTL: Invalid value: str, not integer"),
        ({"provider": "aws-iam", "colour": "red"}, "spec.colour: unknown field"),
        ({}, "spec.provider: Required value"),
    ],
)
def test_a_spec_breaking_the_schema_is_refused_before_any_rule_runs(
    spec: dict[str, Any], error: str
) -> None:
    report = check_object({**identity(), "spec": spec})
    assert any(found.startswith(error) for found in report.errors), report.errors
    assert report.rules_checked == 0


def test_defaults_apply_before_the_rules_and_leave_the_object_untouched() -> None:
    obj = identity(defaultTTL=90000)  # above the *defaulted* maxTTL
    before = copy.deepcopy(obj)
    report = check_object(obj)
    assert report.errors == ("spec: defaultTTL must be less than or equal to maxTTL",)
    assert obj == before


@pytest.mark.parametrize(
    ("spec", "error"),
    [
        ({"tokenName": ""}, "spec.tokenName: Invalid value: at least 1 characters"),
        ({"allowedNamespaces": ["payments", "payments"]},
         "spec.allowedNamespaces[1]: Duplicate value: 'payments'"),
        ({"allowedNamespaces": ["Payments"]},
         "spec.allowedNamespaces[0]: Invalid value: does not match"),
        ({"tokenService": {"timeoutSeconds": 301}},
         "spec.tokenService.timeoutSeconds: Invalid value: 301 must be at most 300"),
        ({"serviceAccounts": [{"id": "*"}, {"id": "*", "namespaces": ["payments"]}]},
         "spec.serviceAccounts[1]: Duplicate value: ['*']"),
        ({"serviceAccounts": [{"id": "payments-api"}]},
         "spec.serviceAccounts[0].id: Invalid value: does not match"),
    ],
    ids=["too short", "duplicate in a set", "pattern", "maximum", "duplicate map key",
         "account id"],
)
def test_each_schema_constraint_names_the_field(spec: dict[str, Any], error: str) -> None:
    report = check_object(identity(**spec))
    assert any(found.startswith(error) for found in report.errors), report.errors


def test_an_explicit_null_takes_the_default() -> None:
    assert check_object(identity(tokenService=None, description=None)).errors == ()
