"""What the rendered RBAC grants, flattened to one permission per (scope, group, resource, verb).

A test that records the API calls the controller makes can compare them with
``permissions(render(...))`` directly: ``namespace`` is None for ClusterRole grants
(valid everywhere) and the namespace name for Role grants. Pure data, no I/O.
"""

from __future__ import annotations

from typing import NamedTuple

from .rendering import Manifests

__all__ = ["Permission", "allows", "bound_roles", "permissions", "rule_table"]


class Permission(NamedTuple):
    namespace: str | None
    group: str
    resource: str
    verb: str


def bound_roles(manifests: Manifests, service_account: str) -> list[dict]:
    """Roles and ClusterRoles bound to ``service_account`` by the rendered bindings."""
    roles = []
    for binding in manifests.of_kind("ClusterRoleBinding") + manifests.of_kind("RoleBinding"):
        if not any(
            subject["kind"] == "ServiceAccount" and subject["name"] == service_account
            for subject in binding["subjects"]
        ):
            continue
        ref = binding["roleRef"]
        namespace = None if ref["kind"] == "ClusterRole" else binding["metadata"]["namespace"]
        roles.append(manifests.one(ref["kind"], ref["name"], namespace))
    return roles


def permissions(manifests: Manifests, service_account: str) -> set[Permission]:
    granted = set()
    for role in bound_roles(manifests, service_account):
        namespace = role["metadata"].get("namespace") if role["kind"] == "Role" else None
        for rule in role.get("rules", []):
            for group in rule["apiGroups"]:
                for resource in rule["resources"]:
                    for verb in rule["verbs"]:
                        granted.add(Permission(namespace, group, resource, verb))
    return granted


def rule_table(role: dict) -> dict[tuple[str, str], set[str]]:
    """{(apiGroup, resource): verbs} of one Role or ClusterRole."""
    table: dict[tuple[str, str], set[str]] = {}
    for rule in role["rules"]:
        for group in rule["apiGroups"]:
            for resource in rule["resources"]:
                table.setdefault((group, resource), set()).update(rule["verbs"])
    return table


def allows(
    manifests: Manifests,
    service_account: str,
    *,
    verb: str,
    group: str,
    resource: str,
    namespace: str | None,
    name: str | None,
) -> bool:
    """Whether the rendered RBAC lets ``service_account`` make this request, as RBAC decides:
    a ClusterRole bound cluster-wide, or a Role (ClusterRole) bound in the request's namespace,
    with a rule matching verb, group, resource and, when the rule lists them, the name."""
    for binding in manifests.of_kind("ClusterRoleBinding") + manifests.of_kind("RoleBinding"):
        if not any(
            subject["kind"] == "ServiceAccount" and subject["name"] == service_account
            for subject in binding["subjects"]
        ):
            continue
        namespaced = binding["kind"] == "RoleBinding"
        bound_in = binding["metadata"]["namespace"] if namespaced else None
        if bound_in is not None and bound_in != namespace:
            continue
        ref = binding["roleRef"]
        role_namespace = None if ref["kind"] == "ClusterRole" else bound_in
        role = manifests.one(ref["kind"], ref["name"], role_namespace)
        for rule in role.get("rules", []):
            if (
                verb in rule["verbs"]
                and group in rule["apiGroups"]
                and resource in rule["resources"]
                and (not rule.get("resourceNames") or name in rule["resourceNames"])
            ):
                return True
    return False
