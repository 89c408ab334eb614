"""Tenant roles: ServiceAccountBindings folded into the built-in admin, edit and view roles."""

from __future__ import annotations

from typing import Any

import kubernetes_validate
import pytest

from .conftest import CHART
from .rbac import rule_table
from .rendering import Manifests, Renderer, RenderError, variant_files

GROUP = "externalidentity.dev"
AGGREGATE = "rbac.authorization.k8s.io/aggregate-to-"
EDIT = "eio-external-identity-operator-edit"
VIEW = "eio-external-identity-operator-view"
WRITE = {"create", "update", "patch", "delete", "get", "list", "watch"}
READ = {"get", "list", "watch"}


def _aggregated(manifests: Manifests) -> dict[str, dict[str, Any]]:
    return {
        role["metadata"]["name"]: role
        for role in manifests.of_kind("ClusterRole")
        if any(label.startswith(AGGREGATE) for label in role["metadata"]["labels"])
    }


def _aggregates_to(role: dict[str, Any]) -> set[str]:
    return {
        label.removeprefix(AGGREGATE)
        for label, value in role["metadata"]["labels"].items()
        if label.startswith(AGGREGATE) and value == "true"
    }


def test_on_by_default_an_edit_and_a_view_role(render: Renderer) -> None:
    roles = _aggregated(render())
    assert set(roles) == {EDIT, VIEW}
    for role in roles.values():
        kubernetes_validate.validate(role, "1.30", strict=True)
        assert "aggregationRule" not in role


def test_admin_and_edit_may_manage_bindings(render: Renderer) -> None:
    edit = _aggregated(render())[EDIT]
    assert _aggregates_to(edit) == {"admin", "edit"}
    assert rule_table(edit) == {(GROUP, "serviceaccountbindings"): WRITE}


def test_view_may_read_bindings(render: Renderer) -> None:
    view = _aggregated(render())[VIEW]
    assert _aggregates_to(view) == {"view"}
    assert rule_table(view) == {(GROUP, "serviceaccountbindings"): READ}


@pytest.mark.parametrize("variant", [None, *variant_files(CHART)], ids=lambda v: v or "defaults")
def test_tenants_never_get_anything_on_identities(render: Renderer, variant: str | None) -> None:
    for role in _aggregated(render(variant=variant)).values():
        resources = {resource for rule in role["rules"] for resource in rule["resources"]}
        assert resources == {"serviceaccountbindings"}, role
        assert not any("externalidentities" in resource for resource in resources)


def test_the_tenant_roles_are_bound_to_no_one(render: Renderer) -> None:
    """Aggregation grants them; a binding of the chart's own would grant them to the operator."""
    manifests = render()
    referenced = {
        binding["roleRef"]["name"]
        for binding in manifests.of_kind("ClusterRoleBinding") + manifests.of_kind("RoleBinding")
    }
    assert not referenced & {EDIT, VIEW}


def test_they_can_be_turned_off(render: Renderer) -> None:
    assert _aggregated(render({"rbac": {"aggregateClusterRoles": False}})) == {}
    assert _aggregated(render({"rbac": {"create": False}})) == {}
    assert render({"rbac": {"aggregateClusterRoles": False}}).one(
        "ClusterRole", "eio-external-identity-operator"
    )


def test_helm_refuses_a_non_boolean(render: Renderer) -> None:
    with pytest.raises(RenderError) as refused:
        render.template({"rbac": {"aggregateClusterRoles": "yes"}})
    assert "/rbac/aggregateClusterRoles" in str(refused.value)
