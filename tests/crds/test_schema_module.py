"""The reusable checker: defaulting as the apiserver does it, and a CRD review that can fail."""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

import pytest

from .objects import binding, identity
from .schema import Crd, apply_defaults, load_crd, load_documents, structural_problems, validate


def test_omitted_token_service_gets_every_default(identity_crd: Crd) -> None:
    spec = apply_defaults(identity_crd, identity())["spec"]
    assert spec["tokenService"] == {
        "host": "https://console.phase.dev",
        "pathPrefix": "/service/public",
        "timeoutSeconds": 15,
    }
    assert spec["credentials"] == {"source": "Operator"}
    assert (spec["defaultTTL"], spec["maxTTL"]) == (3600, 86400)
    assert "tokenName" not in spec  # the controller defaults it to the provider


def test_partial_token_service_keeps_given_values_and_fills_the_rest(identity_crd: Crd) -> None:
    obj = identity(tokenService={"host": "https://api.phase.dev", "pathPrefix": ""})
    token_service = apply_defaults(identity_crd, obj)["spec"]["tokenService"]
    assert token_service == {
        "host": "https://api.phase.dev",
        "pathPrefix": "",
        "timeoutSeconds": 15,
    }


def test_azure_resource_defaults_to_azure_management(identity_crd: Crd) -> None:
    obj = identity(provider="azure", azure={"tenantId": "11111111-2222-3333-4444-555555555555"})
    azure = apply_defaults(identity_crd, obj)["spec"]["azure"]
    assert azure["resource"] == "https://management.azure.com/"
    assert "aws" not in apply_defaults(identity_crd, obj)["spec"]


def test_binding_defaults_the_token_key_but_not_ttl_nor_refresh_policy(binding_crd: Crd) -> None:
    spec = apply_defaults(binding_crd, binding())["spec"]
    assert spec["secret"]["keys"] == {"token": "token"}
    assert "ttl" not in spec  # absent means the identity's defaultTTL
    # Absent means the operator's --refresh-percent and --min-remaining-seconds apply;
    # a schema default would always win over them.
    assert "refreshPolicy" not in spec


@pytest.mark.parametrize(
    "policy",
    [{}, {"refreshAtPercent": 50}, {"minRemainingSeconds": 0}],
    ids=["empty", "percent only", "margin only"],
)
def test_a_partial_refresh_policy_gets_no_defaults(
    binding_crd: Crd, policy: dict[str, int]
) -> None:
    spec = apply_defaults(binding_crd, binding(refreshPolicy=policy))["spec"]
    assert spec["refreshPolicy"] == policy  # the unset field is left to the operator


def test_explicit_null_takes_the_default_and_other_nulls_are_dropped(identity_crd: Crd) -> None:
    spec = apply_defaults(identity_crd, identity(tokenService=None, description=None))["spec"]
    assert spec["tokenService"]["host"] == "https://console.phase.dev"
    assert "description" not in spec


def test_apply_defaults_leaves_its_input_untouched(binding_crd: Crd) -> None:
    obj = binding()
    before = copy.deepcopy(obj)
    apply_defaults(binding_crd, obj)
    assert obj == before


def test_validate_applies_defaults_before_the_cel_rules(identity_crd: Crd) -> None:
    obj = identity(defaultTTL=90000)  # above the *defaulted* maxTTL
    assert validate(identity_crd, obj) == ["spec: defaultTTL must be less than or equal to maxTTL"]


def test_timestamps_in_yaml_stay_strings(tmp_path: Path) -> None:
    path = tmp_path / "doc.yaml"
    path.write_text("a: 2024-05-01T12:00:00Z\n---\n---\nb: 1\n")
    assert load_documents(path) == [{"a": "2024-05-01T12:00:00Z"}, {"b": 1}]


def test_load_crd_refuses_a_file_that_is_not_a_crd(tmp_path: Path) -> None:
    path = tmp_path / "cm.yaml"
    path.write_text("apiVersion: v1\nkind: ConfigMap\nmetadata: {name: x}\n")
    with pytest.raises(ValueError, match="not a CustomResourceDefinition"):
        load_crd(path)


def _broken(crd: Crd, *path: str, **changes: Any) -> Crd:
    body = copy.deepcopy(dict(crd.body))
    node = body["spec"]["versions"][0]["schema"]["openAPIV3Schema"]
    for part in path:
        node = node["properties"][part]
    for key, value in changes.items():
        if value is None:
            del node[key]
        else:
            node[key] = value
    return Crd.from_dict(body)


DEFECTS = [
    (("spec", "description"), {"maxLength": None}, "spec.description: string without maxLength"),
    (("spec", "maxTTL"), {"type": None}, "spec.maxTTL: no type"),
    (
        ("spec", "allowedNamespaces"),
        {"maxItems": None},
        "spec.allowedNamespaces: array without maxItems",
    ),
    (
        ("spec", "tokenService", "timeoutSeconds"),
        {"default": 0},
        "spec.tokenService.timeoutSeconds: default 0 is invalid",
    ),
    (
        ("spec", "tokenService"),
        {"default": {"host": "nope"}},
        "spec.tokenService: default {'host': 'nope'} is invalid",
    ),
    (
        ("status",),
        {"x-kubernetes-preserve-unknown-fields": True},
        "status: preserves unknown fields",
    ),
    (
        ("spec",),
        {"x-kubernetes-validations": [{"rule": "self.maxTTL >", "message": "m"}]},
        "does not compile",
    ),
    (
        ("spec",),
        {
            "x-kubernetes-validations": [
                {"rule": "true", "message": "m", "messageExpression": "'x'"}
            ]
        },
        "use a static message",
    ),
]


@pytest.mark.parametrize(
    ("path", "changes", "expected"), DEFECTS, ids=[expected for _, _, expected in DEFECTS]
)
def test_structural_problems_reports_each_kind_of_defect(
    identity_crd: Crd, path: tuple[str, ...], changes: dict[str, Any], expected: str
) -> None:
    problems = structural_problems(_broken(identity_crd, *path, **changes))
    assert any(expected in problem for problem in problems), problems


def test_structural_problems_reports_printer_columns_pointing_nowhere(binding_crd: Crd) -> None:
    body = copy.deepcopy(dict(binding_crd.body))
    columns = body["spec"]["versions"][0]["additionalPrinterColumns"]
    columns[0]["jsonPath"] = ".spec.identityRef.name"
    columns[1]["jsonPath"] = '.status.conditions[?(@.kind=="Ready")].status'
    problems = structural_problems(Crd.from_dict(body))
    assert any("no field 'identityRef'" in problem for problem in problems), problems
    assert any("filter on unknown field 'kind'" in problem for problem in problems), problems


def test_structural_problems_requires_the_status_subresource(binding_crd: Crd) -> None:
    body = copy.deepcopy(dict(binding_crd.body))
    del body["spec"]["versions"][0]["subresources"]
    assert "version v1alpha1: no status subresource" in structural_problems(Crd.from_dict(body))
