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


TYPE_IMMUTABLE_RULE = (
    "spec.secret: secret.type is immutable (Kubernetes cannot change a Secret's type)"
)
PHASE_ENV_RULE = (
    "spec.secret: with format PhaseEnv, secret.keys must not use PHASE_SERVICE_TOKEN or "
    "PHASE_HOST"
)
KUBERNETES_TYPE_RULE = (
    "spec.secret.type: secret.type must be Opaque or a type of your own, not kubernetes.io/"
)


@pytest.mark.parametrize(
    ("old_type", "new_type"),
    [(None, "example.com/phase-token"), ("example.com/phase-token", None),
     ("example.com/a", "example.com/b")],
)
def test_changing_the_secret_type_on_update_is_rejected(
    binding_crd: Crd, old_type: str | None, new_type: str | None
) -> None:
    def secret(kind: str | None) -> dict[str, Any]:
        return {"name": "s", **({"type": kind} if kind else {})}

    old, new = binding(secret=secret(old_type)), binding(secret=secret(new_type))
    assert validate(binding_crd, new, old=old) == [TYPE_IMMUTABLE_RULE]


def test_opaque_written_out_is_the_same_type_as_unset(binding_crd: Crd) -> None:
    old = binding(secret={"name": "s"})
    new = binding(secret={"name": "s", "type": "Opaque"})
    assert validate(binding_crd, new, old=old) == []


def test_the_phase_env_names_are_reserved_with_that_format(binding_crd: Crd) -> None:
    clashing = {"name": "s", "format": "PhaseEnv", "keys": {"host": "PHASE_HOST"}}
    assert validate(binding_crd, binding(secret=clashing)) == [PHASE_ENV_RULE]
    plain = {"name": "s", "keys": {"host": "PHASE_HOST"}}
    assert validate(binding_crd, binding(secret=plain)) == []
    assert validate(binding_crd, binding(secret={"name": "s", "format": "PhaseEnv"})) == []


def test_kubernetes_builtin_secret_types_are_rejected(binding_crd: Crd) -> None:
    obj = binding(secret={"name": "s", "type": "kubernetes.io/tls"})
    assert validate(binding_crd, obj) == [KUBERNETES_TYPE_RULE]
