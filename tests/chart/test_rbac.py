"""RBAC: least privilege, exactly the rules the operator needs, scoped to what it serves."""

from __future__ import annotations

import pytest

from .conftest import CHART
from .rbac import Permission, bound_roles, permissions, rule_table
from .rendering import RELEASE_NAMESPACE, Manifests, Renderer, variant_files

VARIANTS = [None, *variant_files(CHART)]
SA = "eio-external-identity-operator"
GROUP = "externalidentity.dev"

CLUSTER_SCOPED = {
    (GROUP, "externalidentities"): {"list", "watch", "patch"},
    (GROUP, "externalidentities/status"): {"patch"},
    ("apiextensions.k8s.io", "customresourcedefinitions"): {"list", "watch"},
}
EVENTS = {
    ("", "events"): {"create"},
}
NAMESPACED = {
    (GROUP, "serviceaccountbindings"): {"list", "watch", "patch"},
    (GROUP, "serviceaccountbindings/status"): {"patch"},
    ("", "secrets"): {"get", "list", "watch", "create", "update", "patch", "delete"},
    **EVENTS,
}
TOKEN_REQUEST = {("", "serviceaccounts/token"): {"create"}}
NAMESPACES = {("", "namespaces"): {"list", "watch"}}
CLUSTER_PEERING = {("kopf.dev", "clusterkopfpeerings"): {"get", "list", "watch", "patch"}}
NAMESPACED_PEERING = {("kopf.dev", "kopfpeerings"): {"get", "list", "watch", "patch"}}
AGGREGATE = "rbac.authorization.k8s.io/aggregate-to-"


def _cluster_role(manifests: Manifests) -> dict:
    return manifests.one("ClusterRole", SA)


def _operator_roles(manifests: Manifests) -> list[dict]:
    """Roles and ClusterRoles but the tenant roles aggregated to admin, edit and view."""
    return [
        role
        for role in manifests.of_kind("ClusterRole") + manifests.of_kind("Role")
        if not any(label.startswith(AGGREGATE) for label in role["metadata"]["labels"])
    ]


@pytest.mark.parametrize("variant", VARIANTS, ids=lambda v: v or "defaults")
def test_no_rule_uses_a_wildcard(render: Renderer, variant: str | None) -> None:
    manifests = render(variant=variant)
    roles = manifests.of_kind("ClusterRole") + manifests.of_kind("Role")
    assert roles
    for role in roles:
        for rule in role["rules"]:
            for field in ("apiGroups", "resources", "verbs", "resourceNames", "nonResourceURLs"):
                assert not any("*" in item for item in rule.get(field, [])), (role, rule)


@pytest.mark.parametrize("variant", VARIANTS, ids=lambda v: v or "defaults")
def test_no_rule_grants_privilege_escalation(render: Renderer, variant: str | None) -> None:
    manifests = render(variant=variant)
    dangerous = {"escalate", "bind", "impersonate", "deletecollection"}
    for role in manifests.of_kind("ClusterRole") + manifests.of_kind("Role"):
        for rule in role["rules"]:
            assert not dangerous & set(rule["verbs"]), rule
            assert not {"pods/exec", "roles", "clusterroles"} & set(rule["resources"]), rule


def test_cluster_wide_rules_by_default(render: Renderer) -> None:
    manifests = render()
    assert rule_table(_cluster_role(manifests)) == {**CLUSTER_SCOPED, **NAMESPACED}
    assert manifests.of_kind("Role") == []
    binding = manifests.one("ClusterRoleBinding")
    assert binding["subjects"] == [
        {"kind": "ServiceAccount", "name": SA, "namespace": RELEASE_NAMESPACE}
    ]


def test_service_accounts_and_token_requests_are_allowed_only_for_per_workload_identity(
    render: Renderer,
) -> None:
    without = permissions(render(), SA)
    with_tokens = permissions(render(variant="per-workload"), SA)
    workload = {
        Permission(None, "", "serviceaccounts/token", "create"),
        *(Permission(None, "", "serviceaccounts", verb) for verb in ("get", "list", "watch")),
    }
    assert not workload & without
    assert with_tokens - without == workload


def test_per_workload_rules_are_scoped_to_the_watched_namespaces(render: Renderer) -> None:
    manifests = render(values={"perWorkloadIdentity": {"enabled": True},
                               "watchNamespaces": ["a", "b"]})
    assert not {("", "serviceaccounts"), ("", "serviceaccounts/token")} & set(
        rule_table(_cluster_role(manifests)))
    roles = [role for role in manifests.of_kind("Role")
             if role["metadata"]["name"] == "eio-external-identity-operator"]
    assert sorted(role["metadata"]["namespace"] for role in roles) == ["a", "b"]
    for role in roles:
        table = rule_table(role)
        assert table[("", "serviceaccounts")] == {"get", "list", "watch"}
        assert table[("", "serviceaccounts/token")] == {"create"}


WORKLOADS = ("deployments", "statefulsets", "daemonsets")


def test_workloads_are_allowed_only_for_restart_on_rotation(render: Renderer) -> None:
    without = permissions(render(), SA)
    manifests = render(variant="restart-on-rotation")
    restarts = {Permission(None, "apps", resource, verb)
                for resource in WORKLOADS for verb in ("list", "watch", "patch")}
    assert not {p for p in without if p.group == "apps"}
    assert permissions(manifests, SA) - without == restarts
    args = manifests.one("Deployment")["spec"]["template"]["spec"]["containers"][0]["args"]
    assert "--restart-on-rotation" in args and "--restart-min-interval=60" in args
    assert not any("restart" in arg for arg in
                   render().one("Deployment")["spec"]["template"]["spec"]["containers"][0]["args"])


def test_restart_on_rotation_rules_are_scoped_to_the_watched_namespaces(render: Renderer) -> None:
    manifests = render(values={"restartOnRotation": {"enabled": True},
                               "watchNamespaces": ["a", "b"]})
    assert not {("apps", resource) for resource in WORKLOADS} & set(
        rule_table(_cluster_role(manifests)))
    roles = [role for role in manifests.of_kind("Role")
             if role["metadata"]["name"] == "eio-external-identity-operator"]
    assert sorted(role["metadata"]["namespace"] for role in roles) == ["a", "b"]
    for role in roles:
        for resource in WORKLOADS:
            assert rule_table(role)[("apps", resource)] == {"list", "watch", "patch"}


def test_restricted_namespaces_get_roles_and_a_cluster_role_only_for_identities(
    render: Renderer,
) -> None:
    manifests = render(variant="namespaces")
    assert rule_table(_cluster_role(manifests)) == {**CLUSTER_SCOPED, **NAMESPACES}
    roles = {
        role["metadata"]["namespace"]: role
        for role in manifests.of_kind("Role")
        if role["metadata"]["name"] == "eio-external-identity-operator"
    }
    assert sorted(roles) == ["a", "b"]
    for role in roles.values():
        assert rule_table(role) == NAMESPACED
    events = manifests.one("Role", "eio-external-identity-operator-events", RELEASE_NAMESPACE)
    assert rule_table(events) == EVENTS


def test_restricted_namespaces_never_grant_secrets_cluster_wide(render: Renderer) -> None:
    granted = permissions(render(variant="namespaces"), SA)
    secrets = {p for p in granted if p.resource == "secrets"}
    assert secrets
    assert {p.namespace for p in secrets} == {"a", "b"}


def test_every_role_is_bound_to_the_operator(render: Renderer) -> None:
    manifests = render(variant="namespaces-ha")
    roles = _operator_roles(manifests)
    assert len(bound_roles(manifests, SA)) == len(roles) == 4


def test_restricted_per_workload_allows_token_requests_only_in_served_namespaces(
    render: Renderer,
) -> None:
    granted = permissions(
        render({"watchNamespaces": ["a", "b"], "perWorkloadIdentity": {"enabled": True}}), SA
    )
    tokens = {p.namespace for p in granted if p.resource == "serviceaccounts/token"}
    assert tokens == {"a", "b"}


def test_the_release_namespace_needs_no_extra_events_role_when_it_is_served(
    render: Renderer,
) -> None:
    manifests = render({"watchNamespaces": ["a", RELEASE_NAMESPACE]})
    names = sorted(
        (r["metadata"]["namespace"], r["metadata"]["name"]) for r in manifests.of_kind("Role")
    )
    assert names == [
        ("a", "eio-external-identity-operator"),
        (RELEASE_NAMESPACE, "eio-external-identity-operator"),
    ]


def test_peering_rules_only_with_several_replicas(render: Renderer) -> None:
    assert not any(p.group == "kopf.dev" for p in permissions(render(), SA))
    assert not any(p.group == "kopf.dev" for p in permissions(render(variant="namespaces"), SA))

    cluster = render(variant="ha")
    assert rule_table(_cluster_role(cluster)) == {**CLUSTER_SCOPED, **NAMESPACED, **CLUSTER_PEERING}

    namespaced = render(variant="namespaces-ha")
    assert rule_table(_cluster_role(namespaced)) == {**CLUSTER_SCOPED, **NAMESPACES}
    for namespace in ("a", "b"):
        role = namespaced.one("Role", "eio-external-identity-operator", namespace)
        assert rule_table(role) == {**NAMESPACED, **NAMESPACED_PEERING}


def test_rbac_can_be_left_to_the_user(render: Renderer) -> None:
    manifests = render({"rbac": {"create": False}, "watchNamespaces": ["a"]})
    kinds = {obj["kind"] for obj in manifests.objects}
    assert not kinds & {"ClusterRole", "ClusterRoleBinding", "Role", "RoleBinding"}


@pytest.mark.parametrize("patterns", [["team-*"], ["payments", "!sandbox"], ["team-[ab]"]])
def test_a_namespace_pattern_puts_every_rule_and_the_peering_in_the_cluster_role(
    render: Renderer, patterns: list[str],
) -> None:
    manifests = render({"replicaCount": 2, "watchNamespaces": patterns})
    assert rule_table(_cluster_role(manifests)) == {
        **CLUSTER_SCOPED, **NAMESPACES, **NAMESPACED, **CLUSTER_PEERING,
    }
    assert manifests.of_kind("Role") == [], "a pattern names no namespace to hold a Role"
    assert len(bound_roles(manifests, SA)) == len(_operator_roles(manifests)) == 1
