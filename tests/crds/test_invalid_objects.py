"""Bad specs and statuses are refused by the OpenAPI schema, with the field named."""

from __future__ import annotations

from typing import Any

import pytest

from .objects import (
    SERVICE_ACCOUNT_ID,
    azure_identity,
    binding,
    condition,
    identity,
    with_field,
    without_field,
)
from .schema import Crd, validate

TIME = "2024-05-01T12:00:00Z"

INVALID_IDENTITIES = [
    ("unknown provider", with_field(identity(), "spec.provider", "gcp"), "spec.provider"),
    ("no provider", without_field(identity(), "spec.provider"), "spec.provider: Required value"),
    ("defaultTTL 0", identity(defaultTTL=0), "spec.defaultTTL"),
    ("maxTTL above a year", identity(maxTTL=31536001), "spec.maxTTL"),
    ("TTL as a string", identity(defaultTTL="3600"), "spec.defaultTTL"),
    ("ftp host", identity(tokenService={"host": "ftp://phase.example"}), "spec.tokenService.host"),
    (
        "host without scheme",
        identity(tokenService={"host": "console.phase.dev"}),
        "spec.tokenService.host",
    ),
    (
        "relative path prefix",
        identity(tokenService={"pathPrefix": "service/public"}),
        "spec.tokenService.pathPrefix",
    ),
    ("timeout 0", identity(tokenService={"timeoutSeconds": 0}), "spec.tokenService.timeoutSeconds"),
    (
        "timeout above 300",
        identity(tokenService={"timeoutSeconds": 301}),
        "spec.tokenService.timeoutSeconds",
    ),
    (
        "CA bundle that is not PEM",
        identity(tokenService={"caBundle": "not a certificate"}),
        "spec.tokenService.caBundle",
    ),
    ("bad region", identity(aws={"region": "EU-West"}), "spec.aws.region"),
    (
        "STS endpoint with a path",
        identity(aws={"stsEndpoint": "https://sts.amazonaws.com/x"}),
        "spec.aws.stsEndpoint",
    ),
    (
        "tenant ID that is not a UUID",
        with_field(azure_identity(), "spec.azure.tenantId", "contoso.onmicrosoft.com"),
        "spec.azure.tenantId",
    ),
    (
        "azure block without tenant ID",
        identity(provider="azure", azure={}),
        "spec.azure.tenantId: Required value",
    ),
    (
        "client ID that is not a UUID",
        with_field(azure_identity(), "spec.azure.clientId", "app"),
        "spec.azure.clientId",
    ),
    (
        "http authority host",
        with_field(azure_identity(), "spec.azure.authorityHost", "http://login.example"),
        "spec.azure.authorityHost",
    ),
    (
        "unknown credentials source",
        identity(credentials={"source": "Node"}),
        "spec.credentials.source",
    ),
    ("upper-case namespace", identity(allowedNamespaces=["Payments"]), "spec.allowedNamespaces[0]"),
    (
        "too many namespaces",
        identity(allowedNamespaces=[f"ns-{i}" for i in range(257)]),
        "spec.allowedNamespaces",
    ),
    (
        "account id neither a UUID nor *",
        identity(serviceAccounts=[{"id": "payments-api"}]),
        "spec.serviceAccounts[0].id",
    ),
    ("account id glob", identity(serviceAccounts=[{"id": "0f1a*"}]), "spec.serviceAccounts[0].id"),
    (
        "account without id",
        identity(serviceAccounts=[{"namespaces": ["payments"]}]),
        "spec.serviceAccounts[0].id: Required value",
    ),
    (
        "upper-case account namespace",
        identity(serviceAccounts=[{"id": "*", "namespaces": ["Payments"]}]),
        "spec.serviceAccounts[0].namespaces[0]",
    ),
    (
        "too many accounts",
        identity(serviceAccounts=[{"id": f"0f1a2b3c-4d5e-6789-abcd-ef01234{i:05d}"}
                                  for i in range(257)]),
        "spec.serviceAccounts",
    ),
    (
        "unknown account field",
        identity(serviceAccounts=[{"id": "*", "namespace": "payments"}]),
        "spec.serviceAccounts[0].namespace: unknown field",
    ),
    ("unknown spec field", identity(region="eu-west-1"), "spec.region: unknown field"),
    (
        "namespace on a cluster-scoped object",
        with_field(identity(), "metadata.namespace", "default"),
        "metadata.namespace",
    ),
    (
        "unknown status field",
        with_field(identity(), "status.ready", True),
        "status.ready: unknown field",
    ),
    (
        "negative binding count",
        with_field(identity(), "status.bindings", -1),
        "status.bindings",
    ),
    (
        "binding count as a string",
        with_field(identity(), "status.bindings", "3"),
        "status.bindings",
    ),
    (
        "principal above 2048 characters",
        with_field(identity(), "status.principal", "a" * 2049),
        "status.principal",
    ),
    (
        "wrong version",
        with_field(identity(), "apiVersion", "externalidentity.dev/v1"),
        "apiVersion",
    ),
    ("no spec", without_field(identity(), "spec"), "spec: Required value"),
]

INVALID_BINDINGS = [
    ("bad UUID", binding(serviceAccountId="not-a-uuid"), "spec.serviceAccountId"),
    (
        "UUID without dashes",
        binding(serviceAccountId="0f1a2b3c4d5e6789abcdef0123456789"),
        "spec.serviceAccountId",
    ),
    (
        "no service account ID",
        without_field(binding(), "spec.serviceAccountId"),
        "spec.serviceAccountId: Required value",
    ),
    ("TTL 0", binding(ttl=0), "spec.ttl"),
    ("negative TTL", binding(ttl=-5), "spec.ttl"),
    (
        "no identity ref",
        without_field(binding(), "spec.externalIdentityRef"),
        "spec.externalIdentityRef: Required value",
    ),
    (
        "identity ref without name",
        binding(externalIdentityRef={}),
        "spec.externalIdentityRef.name: Required value",
    ),
    ("no secret", without_field(binding(), "spec.secret"), "spec.secret: Required value"),
    (
        "missing secret name",
        binding(secret={"keys": {"token": "token"}}),
        "spec.secret.name: Required value",
    ),
    ("secret name with upper case", binding(secret={"name": "Phase_Token"}), "spec.secret.name"),
    ("secret name too long", binding(secret={"name": "a" * 254}), "spec.secret.name"),
    (
        "bad secret key name",
        binding(secret={"name": "s", "keys": {"token": "tok/en"}}),
        "spec.secret.keys.token",
    ),
    (
        "secret key with a space",
        binding(secret={"name": "s", "keys": {"expiresAt": "expires at"}}),
        "spec.secret.keys.expiresAt",
    ),
    (
        "unknown secret key kind",
        binding(secret={"name": "s", "keys": {"jwt": "jwt"}}),
        "spec.secret.keys.jwt: unknown field",
    ),
    (
        "too many labels",
        binding(secret={"name": "s", "labels": {f"l{i}": "v" for i in range(65)}}),
        "spec.secret.labels",
    ),
    (
        "label value too long",
        binding(secret={"name": "s", "labels": {"a": "v" * 64}}),
        "spec.secret.labels.a",
    ),
    (
        "refresh at 5 percent",
        binding(refreshPolicy={"refreshAtPercent": 5}),
        "spec.refreshPolicy.refreshAtPercent",
    ),
    (
        "refresh at 99 percent",
        binding(refreshPolicy={"refreshAtPercent": 99}),
        "spec.refreshPolicy.refreshAtPercent",
    ),
    (
        "negative margin",
        binding(refreshPolicy={"minRemainingSeconds": -1}),
        "spec.refreshPolicy.minRemainingSeconds",
    ),
    (
        "margin above an hour",
        binding(refreshPolicy={"minRemainingSeconds": 3601}),
        "spec.refreshPolicy.minRemainingSeconds",
    ),
    (
        "service account name with upper case",
        binding(serviceAccountName="Payments"),
        "spec.serviceAccountName",
    ),
    (
        "expiresAt that is not a time",
        with_field(binding(), "status.expiresAt", "tomorrow"),
        "status.expiresAt",
    ),
    (
        "expiresAt without a zone",
        with_field(binding(), "status.expiresAt", "2024-05-01T12:00:00"),
        "status.expiresAt",
    ),
    (
        "condition without reason",
        with_field(
            binding(),
            "status.conditions",
            [{k: v for k, v in condition().items() if k != "reason"}],
        ),
        "status.conditions[0].reason: Required value",
    ),
    (
        "condition status Yes",
        with_field(binding(), "status.conditions", [condition(status="Yes")]),
        "status.conditions[0].status",
    ),
    (
        "condition reason with spaces",
        with_field(binding(), "status.conditions", [condition(reason="Token issued")]),
        "status.conditions[0].reason",
    ),
    (
        "negative failure count",
        with_field(binding(), "status.failureCount", -1),
        "status.failureCount",
    ),
    (
        "token in status",
        with_field(binding(), "status.token", "secret"),
        "status.token: unknown field",
    ),
    ("no name", without_field(binding(), "metadata.name"), "metadata.name: Required value"),
]


def _ids(cases: list[tuple[str, Any, str]]) -> list[str]:
    return [case[0] for case in cases]


@pytest.mark.parametrize(
    ("case", "obj", "expected"), INVALID_IDENTITIES, ids=_ids(INVALID_IDENTITIES)
)
def test_invalid_identity_is_rejected_naming_the_field(
    identity_crd: Crd, case: str, obj: dict[str, Any], expected: str
) -> None:
    errors = validate(identity_crd, obj)
    assert any(error.startswith(expected) for error in errors), errors


@pytest.mark.parametrize(("case", "obj", "expected"), INVALID_BINDINGS, ids=_ids(INVALID_BINDINGS))
def test_invalid_binding_is_rejected_naming_the_field(
    binding_crd: Crd, case: str, obj: dict[str, Any], expected: str
) -> None:
    errors = validate(binding_crd, obj)
    assert any(error.startswith(expected) for error in errors), errors


def test_minimal_objects_used_above_are_themselves_valid(
    identity_crd: Crd, binding_crd: Crd
) -> None:
    assert validate(identity_crd, identity()) == []
    assert validate(identity_crd, azure_identity()) == []
    assert validate(binding_crd, binding()) == []


def test_fully_populated_statuses_are_accepted(identity_crd: Crd, binding_crd: Crd) -> None:
    eid_status = {
        "observedGeneration": 2,
        "bindings": 3,
        "principal": "arn:aws:sts::123456789012:assumed-role/operator/botocore-session-1",
        "conditions": [condition()],
    }
    assert validate(identity_crd, with_field(identity(), "status", eid_status)) == []
    sab_status = {
        "observedGeneration": 2,
        "conditions": [condition(), condition(type="Degraded", status="False", reason="Fine")],
        "expiresAt": "2024-05-01T13:00:00Z",
        "lastRefreshTime": TIME,
        "nextRefreshTime": "2024-05-01T12:40:12.5+00:00",
        "ttl": 3600,
        "principal": "arn:aws:sts::123456789012:assumed-role/operator/botocore-session-1",
        "secretName": "phase-service-token",
        "failureCount": 0,
        "lastFailureTime": TIME,
    }
    assert validate(binding_crd, with_field(binding(), "status", sab_status)) == []


def test_every_documented_ready_false_reason_fits_the_condition_schema(binding_crd: Crd) -> None:
    reasons = [
        "TokenIssued",
        "InvalidSpec",
        "IdentityNotFound",
        "NamespaceNotAllowed",
        "ServiceAccountNotAllowed",
        "CredentialsUnavailable",
        "Rejected",
        "ExchangeFailed",
        "SecretConflict",
        "Expired",
    ]
    for reason in reasons:
        status = {"conditions": [condition(status="False", reason=reason, message="")]}
        assert validate(binding_crd, with_field(binding(), "status", status)) == [], reason


def test_duplicate_allowed_namespace_is_rejected(identity_crd: Crd) -> None:
    errors = validate(identity_crd, identity(allowedNamespaces=["payments", "payments"]))
    assert any(error.startswith("spec.allowedNamespaces") for error in errors), errors


def test_an_account_listed_twice_is_rejected(identity_crd: Crd) -> None:
    twice = [{"id": SERVICE_ACCOUNT_ID}, {"id": SERVICE_ACCOUNT_ID, "namespaces": ["payments"]}]
    errors = validate(identity_crd, identity(serviceAccounts=twice))
    assert errors == [f"spec.serviceAccounts[1]: Duplicate value: id={SERVICE_ACCOUNT_ID!r}"]


def test_accounts_by_uuid_in_either_case_or_any_with_namespace_patterns_are_accepted(
    identity_crd: Crd,
) -> None:
    accounts = [
        {"id": SERVICE_ACCOUNT_ID, "namespaces": ["payments", "team-*"]},
        {"id": SERVICE_ACCOUNT_ID.upper()},
        {"id": "*", "namespaces": []},
    ]
    assert validate(identity_crd, identity(serviceAccounts=accounts)) == []


def test_two_conditions_of_one_type_are_rejected(binding_crd: Crd) -> None:
    status = {"conditions": [condition(), condition(status="False", reason="Expired")]}
    errors = validate(binding_crd, with_field(binding(), "status", status))
    assert errors == ["status.conditions[1]: Duplicate value: type='Ready'"]
