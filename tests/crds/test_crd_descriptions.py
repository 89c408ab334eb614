"""Every CRD field is documented: ``kubectl explain`` is the first thing a user runs.

Walks each served version's ``openAPIV3Schema``: every property at every depth, and the
schemas of array items and map values (``additionalProperties``) that are objects with
fields of their own (e.g. ``status.conditions[]``), must carry a non-empty
``description``. The root ``metadata`` is exempt: the API server publishes ObjectMeta's own
documentation for it, and a CRD may not say anything about it beyond name and generateName.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from typing import Any

import pytest

from .schema import Crd

KINDS = ["ExternalIdentity", "ServiceAccountBinding"]

#: Fields whose documentation the API server supplies itself.
EXEMPT = frozenset({"metadata"})


def _has_fields(node: Any) -> bool:
    return isinstance(node, Mapping) and bool(node.get("properties"))


def _documented_nodes(
    node: Mapping[str, Any], path: str = ""
) -> Iterator[tuple[str, Mapping[str, Any]]]:
    """Every (path, schema) below ``node`` that must be described, depth first."""
    for name, sub in (node.get("properties") or {}).items():
        child = f"{path}.{name}" if path else name
        if child in EXEMPT:
            continue
        yield child, sub
        yield from _documented_nodes(sub, child)
    items = node.get("items")
    if _has_fields(items):
        yield f"{path}[]", items
        yield from _documented_nodes(items, f"{path}[]")
    additional = node.get("additionalProperties")
    if _has_fields(additional):
        yield f"{path}[*]", additional
        yield from _documented_nodes(additional, f"{path}[*]")


def undescribed_fields(schema: Mapping[str, Any]) -> list[str]:
    """Paths of the fields in ``schema`` (and the root itself) without a description."""
    missing = [] if _described(schema) else ["<root>"]
    missing += [path for path, node in _documented_nodes(schema) if not _described(node)]
    return missing


def _described(node: Mapping[str, Any]) -> bool:
    description = node.get("description")
    return isinstance(description, str) and bool(description.strip())


def _versions(crd: Crd) -> list[str]:
    return [str(entry["name"]) for entry in crd.versions]


@pytest.mark.parametrize("kind", KINDS)
def test_every_field_of_every_version_has_a_description(crds: dict[str, Crd], kind: str) -> None:
    crd = crds[kind]
    missing = [
        f"{version}: {path}"
        for version in _versions(crd)
        for path in undescribed_fields(crd.schema(version))
    ]
    assert not missing, (
        f"{kind}: {len(missing)} field(s) without a description (kubectl explain shows "
        "nothing for them):\n" + "\n".join(missing)
    )


@pytest.mark.parametrize("kind", KINDS)
def test_every_scalar_default_is_stated_in_its_description(crds: dict[str, Crd], kind: str) -> None:
    """A defaulted field says its default, so ``kubectl explain`` answers "what if I omit it"."""
    crd = crds[kind]
    unstated = [
        f"{version}: {path} (default {node['default']!r})"
        for version in _versions(crd)
        for path, node in _documented_nodes(crd.schema(version))
        if "default" in node
        and not isinstance(node["default"], Mapping | list)
        and str(node["default"]) not in str(node.get("description", ""))
    ]
    assert not unstated, (
        f"{kind}: descriptions that do not state the field's default:\n" + "\n".join(unstated)
    )


def test_the_walk_reaches_nested_items_and_map_values() -> None:
    schema = {
        "type": "object",
        "description": "root",
        "properties": {
            "metadata": {"type": "object"},
            "spec": {
                "type": "object",
                "description": "the spec",
                "properties": {
                    "list": {
                        "type": "array",
                        "description": "a list",
                        "items": {
                            "type": "object",
                            "properties": {"a": {"type": "string", "description": "a"}},
                        },
                    },
                    "map": {
                        "type": "object",
                        "description": "a map",
                        "additionalProperties": {
                            "type": "object",
                            "description": "a value",
                            "properties": {"b": {"type": "string"}},
                        },
                    },
                    "tags": {
                        "type": "array",
                        "description": "scalar items need no description of their own",
                        "items": {"type": "string"},
                    },
                    "bare": {"type": "string", "description": "  "},
                },
            },
            "status": {"type": "object"},
        },
    }
    assert undescribed_fields(schema) == [
        "spec.list[]",
        "spec.map[*].b",
        "spec.bare",
        "status",
    ]
    assert undescribed_fields({"type": "object"}) == ["<root>"]
