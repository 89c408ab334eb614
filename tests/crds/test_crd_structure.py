"""The CRDs themselves: names, scope, columns, status, and schema hygiene."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from .schema import CRD_DIR, Crd, load_crd, structural_problems

GROUP = "externalidentity.dev"

IDENTITY_SPEC_FIELDS = {
    "provider",
    "description",
    "tokenService",
    "tokenName",
    "defaultTTL",
    "maxTTL",
    "aws",
    "azure",
    "credentials",
    "allowedNamespaces",
    "serviceAccounts",
}
BINDING_SPEC_FIELDS = {
    "externalIdentityRef",
    "serviceAccountId",
    "ttl",
    "refreshPolicy",
    "serviceAccountName",
    "suspend",
    "secret",
}
IDENTITY_STATUS_FIELDS = {
    "conditions", "observedGeneration", "bindings", "readyBindings", "principal", "operators",
}
BINDING_STATUS_FIELDS = {
    "conditions",
    "observedGeneration",
    "expiresAt",
    "lastRefreshTime",
    "nextRefreshTime",
    "ttl",
    "principal",
    "secretName",
    "failureCount",
    "lastFailureTime",
    "handledRefreshRequest",
}
READY = '.status.conditions[?(@.type=="Ready")].status'
REASON = '.status.conditions[?(@.type=="Ready")].reason'


def _properties(crd: Crd, *path: str) -> dict[str, object]:
    node = crd.schema()
    for part in path:
        node = node["properties"][part]
    return dict(node["properties"])


@pytest.mark.parametrize("path", sorted(CRD_DIR.glob("*.yaml")), ids=lambda p: p.name)
def test_each_crd_file_is_named_after_the_crd_it_holds(path: Path) -> None:
    assert path.name == f"{load_crd(path).name}.yaml"


def test_there_are_exactly_the_two_crds(crds: dict[str, Crd]) -> None:
    assert set(crds) == {"ExternalIdentity", "ServiceAccountBinding"}


@pytest.mark.parametrize("kind", ["ExternalIdentity", "ServiceAccountBinding"])
def test_crd_has_no_structural_problems(crds: dict[str, Crd], kind: str) -> None:
    assert structural_problems(crds[kind]) == []


@pytest.mark.parametrize("kind", ["ExternalIdentity", "ServiceAccountBinding"])
def test_crd_serves_and_stores_only_v1alpha1_of_the_group(crds: dict[str, Crd], kind: str) -> None:
    crd = crds[kind]
    assert crd.group == GROUP
    assert [(v["name"], v["served"], v["storage"]) for v in crd.versions] == [
        ("v1alpha1", True, True)
    ]


@pytest.mark.parametrize("kind", ["ExternalIdentity", "ServiceAccountBinding"])
def test_crd_has_a_status_subresource(crds: dict[str, Crd], kind: str) -> None:
    assert crds[kind].version()["subresources"] == {"status": {}}


def test_identity_is_cluster_scoped_with_short_name_eid(identity_crd: Crd) -> None:
    assert identity_crd.scope == "Cluster"
    assert identity_crd.plural == "externalidentities"
    assert identity_crd.names["shortNames"] == ["eid"]


def test_binding_is_namespaced_with_short_name_sab(binding_crd: Crd) -> None:
    assert binding_crd.scope == "Namespaced"
    assert binding_crd.plural == "serviceaccountbindings"
    assert binding_crd.names["shortNames"] == ["sab"]


def test_both_kinds_share_categories_that_shadow_no_resource_name(
    crds: dict[str, Crd],
) -> None:
    # kubectl expands a category before resolving a resource name, so a category
    # equal to a plural, singular or short name would hide that resource.
    categories = {tuple(crd.names["categories"]) for crd in crds.values()}
    assert categories == {("external-identity", "phase")}
    resource_names = {
        name
        for crd in crds.values()
        for name in [crd.plural, crd.names["singular"], *crd.names["shortNames"]]
    }
    assert not resource_names & set(crds["ExternalIdentity"].names["categories"])


@pytest.mark.parametrize(
    ("kind", "column", "json_path", "column_type", "priority"),
    [
        ("ExternalIdentity", "Provider", ".spec.provider", "string", 0),
        ("ExternalIdentity", "Principal", ".status.principal", "string", 0),
        ("ExternalIdentity", "Bindings", ".status.bindings", "integer", 0),
        ("ExternalIdentity", "Ready Bindings", ".status.readyBindings", "integer", 0),
        ("ExternalIdentity", "Ready", READY, "string", 0),
        ("ExternalIdentity", "Reason", REASON, "string", 1),
        ("ExternalIdentity", "Age", ".metadata.creationTimestamp", "date", 0),
        ("ServiceAccountBinding", "Identity", ".spec.externalIdentityRef.name", "string", 0),
        ("ServiceAccountBinding", "Secret", ".spec.secret.name", "string", 0),
        ("ServiceAccountBinding", "Ready", READY, "string", 0),
        ("ServiceAccountBinding", "Reason", REASON, "string", 1),
        # A future time in a "date" column prints as "<invalid>" in kubectl.
        ("ServiceAccountBinding", "Expires", ".status.expiresAt", "string", 0),
        ("ServiceAccountBinding", "Age", ".metadata.creationTimestamp", "date", 0),
    ],
)
def test_printer_column_shows_the_expected_field(
    crds: dict[str, Crd], kind: str, column: str, json_path: str, column_type: str, priority: int
) -> None:
    columns = {c["name"]: c for c in crds[kind].version()["additionalPrinterColumns"]}
    assert column in columns
    assert columns[column]["jsonPath"] == json_path
    assert columns[column]["type"] == column_type
    assert columns[column].get("priority", 0) == priority


@pytest.mark.parametrize(
    ("kind", "names"),
    [
        ("ExternalIdentity",
         ["Provider", "Principal", "Bindings", "Ready Bindings", "Ready", "Reason", "Age"]),
        (
            "ServiceAccountBinding",
            ["Identity", "Secret", "Ready", "Reason", "Expires", "Principal", "Age"],
        ),
    ],
)
def test_printer_columns_come_in_a_sensible_order(
    crds: dict[str, Crd], kind: str, names: list[str]
) -> None:
    columns = crds[kind].version()["additionalPrinterColumns"]
    assert [column["name"] for column in columns] == names


def test_identity_status_counts_bindings_and_names_the_principal(identity_crd: Crd) -> None:
    status = _properties(identity_crd, "status")
    bindings = status["bindings"]
    assert isinstance(bindings, dict)
    assert (bindings["type"], bindings["minimum"]) == ("integer", 0)
    assert "ServiceAccountBindings that reference this identity" in bindings["description"]
    principal = status["principal"]
    assert isinstance(principal, dict)
    assert (principal["type"], principal["maxLength"]) == ("string", 2048)
    assert "what to trust in Phase" in principal["description"]


def _node(crd: Crd, *path: str) -> dict[str, Any]:
    node: dict[str, Any] = dict(crd.schema())
    for part in path:
        node = dict(node["properties"][part])
    return node


@pytest.mark.parametrize(
    ("path", "flag", "chart_value"),
    [
        ((), "--refresh-percent", "operator.refreshPercent"),
        (("refreshAtPercent",), "--refresh-percent", "operator.refreshPercent"),
        (("minRemainingSeconds",), "--min-remaining-seconds", "operator.minRemainingSeconds"),
    ],
    ids=["refreshPolicy", "refreshAtPercent", "minRemainingSeconds"],
)
def test_refresh_policy_has_no_default_and_names_the_operator_setting_it_overrides(
    binding_crd: Crd, path: tuple[str, ...], flag: str, chart_value: str
) -> None:
    # A default here would always override the operator's flags.
    node = _node(binding_crd, "spec", "refreshPolicy", *path)
    assert "default" not in node
    description = " ".join(node["description"].split())
    assert flag in description
    if path:
        assert chart_value in description
        assert "overrides" in description


def test_refresh_policy_bounds_are_those_of_the_operator_flags(binding_crd: Crd) -> None:
    percent = _node(binding_crd, "spec", "refreshPolicy", "refreshAtPercent")
    margin = _node(binding_crd, "spec", "refreshPolicy", "minRemainingSeconds")
    assert (percent["type"], percent["minimum"], percent["maximum"]) == ("integer", 10, 95)
    assert (margin["type"], margin["minimum"], margin["maximum"]) == ("integer", 0, 3600)


def test_credentials_source_describes_per_workload_identity(identity_crd: Crd) -> None:
    source = _node(identity_crd, "spec", "credentials", "source")
    assert source["enum"] == ["Operator", "ServiceAccount"]
    assert source["default"] == "Operator"
    description = " ".join(source["description"].split())
    assert "not supported" not in description
    for convention in ("eks.amazonaws.com/role-arn", "azure.workload.identity/client-id",
                       "spec.serviceAccountName", "AssumeRoleWithWebIdentity"):
        assert convention in description
    audience = _node(identity_crd, "spec", "credentials", "audience")
    assert (audience["type"], audience["maxLength"]) == ("string", 253)


def test_identity_spec_has_exactly_the_api_contract_fields(identity_crd: Crd) -> None:
    assert set(_properties(identity_crd, "spec")) == IDENTITY_SPEC_FIELDS
    assert set(_properties(identity_crd, "spec", "tokenService")) == {
        "host",
        "pathPrefix",
        "caBundle",
        "timeoutSeconds",
    }
    assert set(_properties(identity_crd, "spec", "aws")) == {"region", "stsEndpoint"}
    assert set(_properties(identity_crd, "spec", "azure")) == {
        "tenantId",
        "resource",
        "authorityHost",
        "clientId",
    }
    assert set(_properties(identity_crd, "spec", "credentials")) == {"source", "audience"}
    entry = _node(identity_crd, "spec", "serviceAccounts")["items"]
    assert set(entry["properties"]) == {"id", "namespaces"}
    assert entry["required"] == ["id"]


def test_service_accounts_are_a_bounded_map_list_keyed_by_id(identity_crd: Crd) -> None:
    accounts = _node(identity_crd, "spec", "serviceAccounts")
    assert accounts["x-kubernetes-list-type"] == "map"
    assert accounts["x-kubernetes-list-map-keys"] == ["id"]
    assert accounts["maxItems"] == 256
    namespaces = accounts["items"]["properties"]["namespaces"]
    allowed = _node(identity_crd, "spec", "allowedNamespaces")
    assert namespaces["items"] == allowed["items"], "namespaces match as allowedNamespaces do"
    assert namespaces["x-kubernetes-list-type"] == "set"
    for says in ("credentials.source Operator", "no account at all", "ServiceAccountNotAllowed",
                 '"*"'):
        assert says in " ".join(accounts["description"].split())


def test_binding_spec_has_exactly_the_api_contract_fields(binding_crd: Crd) -> None:
    assert set(_properties(binding_crd, "spec")) == BINDING_SPEC_FIELDS
    assert set(_properties(binding_crd, "spec", "refreshPolicy")) == {
        "refreshAtPercent",
        "minRemainingSeconds",
    }
    assert set(_properties(binding_crd, "spec", "secret")) == {
        "name",
        "keys",
        "format",
        "type",
        "labels",
        "annotations",
    }
    assert set(_properties(binding_crd, "spec", "secret", "keys")) == {
        "token",
        "bearerToken",
        "expiresAt",
        "host",
    }


@pytest.mark.parametrize(
    ("kind", "fields"),
    [
        ("ExternalIdentity", IDENTITY_STATUS_FIELDS),
        ("ServiceAccountBinding", BINDING_STATUS_FIELDS),
    ],
)
def test_status_declares_every_field_the_controller_writes(
    crds: dict[str, Crd], kind: str, fields: set[str]
) -> None:
    # Undeclared status fields are silently pruned by a real apiserver.
    assert set(_properties(crds[kind], "status")) == fields


@pytest.mark.parametrize("kind", ["ExternalIdentity", "ServiceAccountBinding"])
def test_conditions_are_a_map_list_keyed_by_type_with_the_metav1_shape(
    crds: dict[str, Crd], kind: str
) -> None:
    conditions = crds[kind].schema()["properties"]["status"]["properties"]["conditions"]
    assert conditions["x-kubernetes-list-type"] == "map"
    assert conditions["x-kubernetes-list-map-keys"] == ["type"]
    item = conditions["items"]
    assert set(item["properties"]) == {
        "type",
        "status",
        "reason",
        "message",
        "lastTransitionTime",
        "observedGeneration",
    }
    assert set(item["required"]) == {"type", "status", "reason", "message", "lastTransitionTime"}
    assert item["properties"]["lastTransitionTime"]["format"] == "date-time"


def _rule_messages(crd: Crd, *path: str) -> list[str]:
    node = crd.schema()
    for part in path:
        node = node["properties"][part]
    return [rule["message"] for rule in node["x-kubernetes-validations"]]


def test_identity_spec_carries_the_cross_field_rules(identity_crd: Crd) -> None:
    assert _rule_messages(identity_crd, "spec") == [
        "defaultTTL must be less than or equal to maxTTL",
        "aws is only allowed when provider is aws-iam",
        "azure is only allowed when provider is azure",
        "provider azure requires azure.tenantId",
    ]


def test_binding_secret_name_is_immutable_and_keys_distinct(binding_crd: Crd) -> None:
    assert _rule_messages(binding_crd, "spec", "secret") == [
        "secret.name is immutable; create a new binding instead",
        "secret.type is immutable (Kubernetes cannot change a Secret's type)",
        "with format PhaseEnv, secret.keys must not use PHASE_SERVICE_TOKEN or PHASE_HOST",
    ]
    assert _rule_messages(binding_crd, "spec", "secret", "keys") == [
        "secret.keys must name distinct Secret data keys"
    ]
