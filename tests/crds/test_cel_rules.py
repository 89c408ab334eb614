"""The x-kubernetes-validations rules, evaluated for real with cel-python."""

from __future__ import annotations

from typing import Any

import pytest

from .objects import azure_identity, binding, identity, with_field
from .schema import Crd, validate

TTL_RULE = "spec: defaultTTL must be less than or equal to maxTTL"
AWS_RULE = "spec: aws is only allowed when provider is aws-iam"
AZURE_RULE = "spec: azure is only allowed when provider is azure"
AZURE_REQUIRED_RULE = "spec: provider azure requires azure.tenantId"
KEYS_RULE = "spec.secret.keys: secret.keys must name distinct Secret data keys"
IMMUTABLE_RULE = "spec.secret: secret.name is immutable; create a new binding instead"


@pytest.mark.parametrize(
    ("case", "obj", "expected"),
    [
        ("defaultTTL above maxTTL", identity(defaultTTL=7200, maxTTL=3600), [TTL_RULE]),
        ("defaultTTL above the default maxTTL", identity(defaultTTL=90000), [TTL_RULE]),
        ("maxTTL below the default defaultTTL", identity(maxTTL=60), [TTL_RULE]),
        ("aws block with azure provider", azure_identity(aws={"region": "eu-west-1"}), [AWS_RULE]),
        (
            "azure block with aws provider",
            identity(azure={"tenantId": "11111111-2222-3333-4444-555555555555"}),
            [AZURE_RULE],
        ),
        ("azure provider without azure block", identity(provider="azure"), [AZURE_REQUIRED_RULE]),
        (
            "two rules broken at once",
            identity(provider="azure", aws={}, defaultTTL=10, maxTTL=5),
            [TTL_RULE, AWS_RULE, AZURE_REQUIRED_RULE],
        ),
    ],
)
def test_identity_breaking_a_rule_is_rejected_with_its_message(
    identity_crd: Crd, case: str, obj: dict[str, Any], expected: list[str]
) -> None:
    assert validate(identity_crd, obj) == expected


@pytest.mark.parametrize(
    "obj",
    [
        identity(defaultTTL=3600, maxTTL=3600),
        identity(aws={"region": "us-east-1"}),
        azure_identity(defaultTTL=60, maxTTL=60),
    ],
    ids=["equal TTLs", "aws block with aws provider", "azure with its block"],
)
def test_identity_keeping_the_rules_is_accepted(identity_crd: Crd, obj: dict[str, Any]) -> None:
    assert validate(identity_crd, obj) == []


@pytest.mark.parametrize(
    "keys",
    [
        {"bearerToken": "token"},  # collides with the defaulted token key
        {"token": "value", "expiresAt": "value"},
        {"bearerToken": "x", "host": "x"},
        {"expiresAt": "when", "host": "when"},
    ],
)
def test_binding_writing_two_values_under_one_key_is_rejected(
    binding_crd: Crd, keys: dict[str, str]
) -> None:
    obj = binding(secret={"name": "phase-service-token", "keys": keys})
    assert validate(binding_crd, obj) == [KEYS_RULE]


def test_binding_with_four_distinct_keys_is_accepted(binding_crd: Crd) -> None:
    keys = {"token": "t", "bearerToken": "b", "expiresAt": "e", "host": "h"}
    assert validate(binding_crd, binding(secret={"name": "s", "keys": keys})) == []


def test_renaming_the_secret_on_update_is_rejected(binding_crd: Crd) -> None:
    old = binding()
    new = with_field(old, "spec.secret.name", "other-secret")
    assert validate(binding_crd, new) == []  # fine as a new object
    assert validate(binding_crd, new, old=old) == [IMMUTABLE_RULE]


def test_updating_other_secret_fields_is_accepted(binding_crd: Crd) -> None:
    old = binding()
    new = with_field(old, "spec.secret.labels", {"team": "payments"})
    new = with_field(new, "spec.ttl", 600)
    assert validate(binding_crd, new, old=old) == []
