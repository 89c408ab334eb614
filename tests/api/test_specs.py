import pytest

from external_identity.api.specs import parse_binding, parse_identity
from external_identity.errors import ConfigurationError
from external_identity.exchange.providers.settings import settings_for

SA = "0f1a2b3c-4d5e-6789-abcd-ef0123456789"


def test_identity_defaults_match_the_token_service_docs() -> None:
    identity = parse_identity({"provider": "aws-iam"})
    assert identity.default_ttl == 3600
    assert identity.max_ttl == 86400
    assert identity.token_service.host == "https://console.phase.dev"
    assert identity.token_service.path_prefix == "/service/public"
    assert identity.credentials.source == "Operator"


def test_azure_identity_defaults_the_resource() -> None:
    identity = parse_identity(
        {"provider": "azure", "azure": {"tenantId": "11111111-2222-3333-4444-555555555555"}}
    )
    assert settings_for(identity).azure_resource == "https://management.azure.com/"


@pytest.mark.parametrize(
    ("spec", "expected"),
    [
        ({"provider": "gcp"}, "spec.provider"),
        ({"provider": "aws-iam", "defaultTTL": 90000}, "defaultTTL must not exceed maxTTL"),
        ({"provider": "azure"}, "provider azure requires azure.tenantId"),
        (
            {
                "provider": "azure",
                "aws": {},
                "azure": {"tenantId": "11111111-2222-3333-4444-555555555555"},
            },
            "aws block is only valid with provider aws-iam",
        ),
        (
            {"provider": "aws-iam", "azure": {"tenantId": "11111111-2222-3333-4444-555555555555"}},
            "azure block is only valid with provider azure",
        ),
        ({"provider": "azure", "azure": {"tenantId": "not-a-uuid"}}, "spec.azure.tenantId"),
        ({"provider": "aws-iam", "aws": {"region": "Mars"}}, "spec.aws.region"),
    ],
)
def test_invalid_identities_are_described_by_field(spec: dict, expected: str) -> None:
    with pytest.raises(ConfigurationError, match=expected.replace(".", r"\.")):
        parse_identity(spec)


def test_allowed_namespaces_accept_exact_names_and_patterns() -> None:
    identity = parse_identity({"provider": "aws-iam", "allowedNamespaces": ["payments", "team-*"]})
    assert identity.allows_namespace("payments")
    assert identity.allows_namespace("team-a")
    assert not identity.allows_namespace("default")
    assert parse_identity({"provider": "aws-iam"}).allows_namespace("anything")


OTHER = "11111111-2222-3333-4444-555555555555"


def _accounts(*entries: dict, **spec: object) -> object:
    return parse_identity({"provider": "aws-iam", "serviceAccounts": list(entries), **spec})


def test_an_entry_allows_its_account_in_its_namespaces_only() -> None:
    identity = _accounts({"id": SA, "namespaces": ["payments", "team-*"]})
    assert identity.allows_account(SA, "payments")
    assert identity.allows_account(SA.upper(), "team-a")
    assert not identity.allows_account(SA, "orders")
    assert not identity.allows_account(OTHER, "payments")


def test_an_entry_without_namespaces_allows_every_namespace_the_identity_allows() -> None:
    identity = _accounts({"id": SA}, allowedNamespaces=["payments"])
    assert identity.allows_account(SA, "payments")
    assert not identity.allows_account(SA, "orders")
    assert _accounts({"id": SA}).allows_account(SA, "anything")


def test_an_entry_with_no_namespaces_allows_none() -> None:
    assert not _accounts({"id": SA, "namespaces": []}).allows_account(SA, "payments")


def test_the_star_entry_allows_any_account_within_its_namespaces() -> None:
    identity = _accounts({"id": "*", "namespaces": ["payments"]})
    assert identity.allows_account(SA, "payments") and identity.allows_account(OTHER, "payments")
    assert not identity.allows_account(SA, "orders")


@pytest.mark.parametrize(("source", "allowed"), [("Operator", False), ("ServiceAccount", True)])
def test_without_entries_only_a_per_workload_identity_allows_any_account(
    source: str, allowed: bool,
) -> None:
    identity = parse_identity({"provider": "aws-iam", "credentials": {"source": source}})
    assert identity.service_accounts is None
    assert identity.allows_account(SA, "payments") is allowed


def test_a_per_workload_identity_that_lists_entries_allows_only_those() -> None:
    identity = _accounts({"id": SA}, credentials={"source": "ServiceAccount"})
    assert identity.allows_account(SA, "payments")
    assert not identity.allows_account(OTHER, "payments")


@pytest.mark.parametrize(
    ("entries", "expected"),
    [([{"id": "payments-api"}], "spec.serviceAccounts.0.id"),
     ([{"id": "0f1a*"}], "spec.serviceAccounts.0.id"),
     ([{"namespaces": ["payments"]}], "spec.serviceAccounts.0.id"),
     ([{"id": SA}, {"id": SA, "namespaces": ["payments"]}], "must not list an id twice")],
    ids=["name", "glob", "no id", "twice"],
)
def test_invalid_service_account_entries_are_described_by_field(
    entries: list, expected: str,
) -> None:
    with pytest.raises(ConfigurationError, match=expected.replace(".", r"\.")):
        parse_identity({"provider": "aws-iam", "serviceAccounts": entries})


def _binding(**overrides: object) -> dict:
    spec: dict = {
        "externalIdentityRef": {"name": "prod-aws"},
        "serviceAccountId": SA,
        "secret": {"name": "phase-service-token"},
    }
    spec.update(overrides)
    return spec


def test_binding_secret_keys_default_to_token_only() -> None:
    secret = parse_binding(_binding()).secret
    keys = secret.data_keys()
    assert (keys.token, keys.bearer_token, keys.expires_at, keys.host) == (
        "token",
        None,
        None,
        None,
    )
    assert keys.names() == ["token"]
    assert secret.type == "Opaque"


def test_the_phase_env_format_adds_the_phase_cli_variables_beside_the_token() -> None:
    secret = parse_binding(_binding(secret={"name": "s", "format": "PhaseEnv"})).secret
    assert secret.data_keys().names() == ["token", "PHASE_SERVICE_TOKEN", "PHASE_HOST"]


@pytest.mark.parametrize(
    ("secret", "problem"),
    [
        ({"name": "s", "format": "PhaseEnv", "keys": {"host": "PHASE_HOST"}}, "distinct"),
        ({"name": "s", "type": "kubernetes.io/tls"}, "not kubernetes.io/"),
        ({"name": "s", "type": "no-slash"}, "spec.secret.type"),
        ({"name": "s", "format": "Yaml"}, "spec.secret.format"),
    ],
)
def test_secret_format_and_type_mistakes_are_invalid_specs(secret: dict, problem: str) -> None:
    with pytest.raises(ConfigurationError, match=problem):
        parse_binding(_binding(secret=secret))


@pytest.mark.parametrize(
    ("overrides", "expected"),
    [
        ({"serviceAccountId": "nope"}, "spec.serviceAccountId"),
        ({"ttl": 0}, "spec.ttl"),
        ({"secret": {"name": "Bad_Name"}}, "spec.secret.name"),
        ({"secret": {"name": "s", "keys": {"token": "a", "bearerToken": "a"}}}, "distinct"),
        ({"secret": {"name": "s", "keys": {"token": "bad key"}}}, "spec.secret.keys.token"),
        ({"refreshPolicy": {"refreshAtPercent": 99}}, "spec.refreshPolicy.refreshAtPercent"),
    ],
)
def test_invalid_bindings_are_described_by_field(overrides: dict, expected: str) -> None:
    with pytest.raises(ConfigurationError, match=expected.replace(".", r"\.")):
        parse_binding(_binding(**overrides))


def test_validation_messages_do_not_echo_the_input() -> None:
    with pytest.raises(ConfigurationError) as caught:
        parse_binding(_binding(serviceAccountId="pss_service:v2:deadbeefdeadbeef"))
    assert "pss_service" not in str(caught.value)
