"""What a ServiceAccount's annotations say: the role, the app, the session name, the audience."""

from __future__ import annotations

import pytest

from external_identity.errors import CredentialsUnavailable
from external_identity.exchange.workloads.accounts import (
    ServiceAccount,
    audience_for,
    azure_app,
    role_arn,
    role_session_name,
)

TENANT = "11111111-2222-3333-4444-555555555555"
CLIENT = "66666666-7777-8888-9999-000000000000"


def account(**annotations: str) -> ServiceAccount:
    return ServiceAccount.of("payments", "api", "uid-1", annotations)


def test_the_irsa_annotation_names_the_role() -> None:
    arn = "arn:aws:iam::123456789012:role/team/payments-api"
    assert role_arn(account(**{"eks.amazonaws.com/role-arn": arn})) == arn


@pytest.mark.parametrize("value", [None, "", "payments-api", "arn:aws:iam::12:role/x",
                                   "arn:aws:sts::123456789012:assumed-role/x/y"])
def test_a_missing_or_malformed_role_annotation_names_the_account_annotation_and_fix(
    value: str | None,
) -> None:
    annotations = {} if value is None else {"eks.amazonaws.com/role-arn": value}
    with pytest.raises(CredentialsUnavailable) as refused:
        role_arn(account(**annotations))
    message = str(refused.value)
    assert "ServiceAccount payments/api" in message
    assert "eks.amazonaws.com/role-arn" in message
    assert "kubectl annotate serviceaccount -n payments api" in message


def test_the_workload_identity_annotations_name_the_app_and_tenant() -> None:
    app = azure_app(account(**{"azure.workload.identity/client-id": CLIENT}),
                    default_tenant=TENANT)
    assert (app.client_id, app.tenant_id) == (CLIENT, TENANT)
    other = "aaaaaaaa-bbbb-cccc-dddd-eeeeeeeeeeee"
    own = azure_app(account(**{"azure.workload.identity/client-id": CLIENT,
                               "azure.workload.identity/tenant-id": other}),
                    default_tenant=TENANT)
    assert own.tenant_id == other


@pytest.mark.parametrize("annotations", [
    {}, {"azure.workload.identity/client-id": "my-app"},
    {"azure.workload.identity/client-id": CLIENT, "azure.workload.identity/tenant-id": "x"},
])
def test_a_missing_or_malformed_app_annotation_is_refused(annotations: dict[str, str]) -> None:
    with pytest.raises(CredentialsUnavailable) as refused:
        azure_app(account(**annotations), default_tenant=TENANT)
    assert "ServiceAccount payments/api" in str(refused.value)
    assert "azure.workload.identity/" in str(refused.value)


def test_the_role_session_name_identifies_namespace_and_service_account_within_64() -> None:
    assert role_session_name(account()) == "payments.api"
    long = ServiceAccount.of("n" * 63, "s" * 200, "uid", {})
    name = role_session_name(long)
    assert len(name) == 64 and name.startswith("n" * 55)
    assert name != role_session_name(ServiceAccount.of("n" * 63, "s" * 199, "uid", {}))


def test_the_audience_is_the_clouds_federation_default_unless_configured() -> None:
    assert audience_for("aws-iam", None) == "sts.amazonaws.com"
    assert audience_for("azure", None) == "api://AzureADTokenExchange"
    assert audience_for("aws-iam", "https://oidc.example") == "https://oidc.example"
