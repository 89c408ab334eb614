"""Check our custom resources against the CRDs shipped with this package, as the API server would.

Pure data code apart from :func:`load_schemas` reading the packaged CRD files
(``external_identity/crds``, the repository's ``crds/``). In the API server's order:
schema defaults are applied, then the OpenAPI schema is checked (unknown fields are
errors, as with ``kubectl --validate=strict``), then — only if that passed — every
``x-kubernetes-validations`` rule with :mod:`~external_identity.api.celrules`. Rules naming
``oldSelf`` only apply to updates, so a check of one object counts but skips them.

Only the schema keywords the CRDs use are implemented; a CRD using another one is refused
when it is loaded rather than half-checked.
"""

from __future__ import annotations

import copy
import datetime as dt
import functools
import re
from collections.abc import Mapping
from dataclasses import dataclass
from importlib import resources
from typing import Any

import yaml

from external_identity.api.celrules import Rule, compile_rule
from external_identity.errors import ConfigurationError

__all__ = ["CrdSchema", "SchemaReport", "check_object", "load_schemas", "parse_documents"]

_KEYWORDS = frozenset({
    "type", "properties", "required", "additionalProperties", "items", "enum", "default",
    "description", "format", "pattern", "minLength", "maxLength", "minimum", "maximum",
    "maxItems", "maxProperties", "x-kubernetes-validations", "x-kubernetes-list-type",
    "x-kubernetes-list-map-keys",
})
_DNS_SUBDOMAIN = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$")
_TYPES: dict[str, tuple[type, ...]] = {
    "object": (Mapping,), "array": (list,), "string": (str,), "integer": (int,),
    "number": (int, float), "boolean": (bool,),
}
_TOP_LEVEL = frozenset({"apiVersion", "kind", "metadata", "spec", "status"})


class _KubeYamlLoader(yaml.SafeLoader):
    """SafeLoader that keeps timestamps as strings, as Kubernetes' YAML→JSON does."""


_KubeYamlLoader.yaml_implicit_resolvers = {
    first: [(tag, regexp) for tag, regexp in resolvers if tag != "tag:yaml.org,2002:timestamp"]
    for first, resolvers in yaml.SafeLoader.yaml_implicit_resolvers.items()
}


def parse_documents(text: str, *, source: str) -> list[dict[str, Any]]:
    """The non-empty documents of a (multi-document) YAML or JSON text."""
    try:
        documents = [d for d in yaml.load_all(text, Loader=_KubeYamlLoader) if d is not None]
    except yaml.YAMLError as error:
        raise ConfigurationError(f"{source} is not YAML: {error}") from None
    for document in documents:
        if not isinstance(document, dict):
            raise ConfigurationError(f"{source}: a document is not a mapping")
    return documents


@dataclass(frozen=True)
class CrdSchema:
    """What a CRD says about one kind: where it is served and its spec's schema."""

    kind: str
    api_versions: tuple[str, ...]
    namespaced: bool
    schema: Mapping[str, Any]
    rules: Mapping[str, Rule]


@dataclass(frozen=True)
class SchemaReport:
    """The outcome for one object: its errors (empty: valid) and how many rules ran."""

    errors: tuple[str, ...]
    rules_checked: int
    transition_rules: int


def _compile_node(node: Mapping[str, Any], path: str, rules: dict[str, Rule]) -> None:
    unknown = set(node) - _KEYWORDS
    if unknown:
        raise ConfigurationError(f"CRD schema at {path or '<root>'} uses {sorted(unknown)}")
    for entry in node.get("x-kubernetes-validations") or []:
        rules[entry["rule"]] = compile_rule(entry["rule"])
    for name, sub in (node.get("properties") or {}).items():
        _compile_node(sub, f"{path}.{name}" if path else name, rules)
    for key in ("items", "additionalProperties"):
        if isinstance(node.get(key), Mapping):
            _compile_node(node[key], f"{path}[]", rules)


@functools.lru_cache(maxsize=1)
def load_schemas() -> dict[str, CrdSchema]:
    """The packaged CRDs, by kind; raises ConfigurationError if one cannot be checked."""
    schemas: dict[str, CrdSchema] = {}
    for path in sorted(resources.files("external_identity").joinpath("crds").iterdir(), key=str):
        if not path.name.endswith(".yaml"):
            continue
        for crd in parse_documents(path.read_text(encoding="utf-8"), source=path.name):
            spec = crd["spec"]
            served = [v for v in spec["versions"] if v.get("served")]
            storage = next(v for v in spec["versions"] if v.get("storage"))
            schema = storage["schema"]["openAPIV3Schema"]
            rules: dict[str, Rule] = {}
            _compile_node(schema["properties"]["spec"], "spec", rules)
            schemas[spec["names"]["kind"]] = CrdSchema(
                kind=spec["names"]["kind"],
                api_versions=tuple(f"{spec['group']}/{v['name']}" for v in served),
                namespaced=spec["scope"] == "Namespaced",
                schema=schema["properties"]["spec"],
                rules=rules,
            )
    return schemas


def _apply_defaults(node: Mapping[str, Any], value: Any) -> Any:
    if isinstance(value, dict):
        for name, sub in (node.get("properties") or {}).items():
            if value.get(name, ...) is None:
                del value[name]
            if name not in value and "default" in sub:
                value[name] = copy.deepcopy(sub["default"])
            if name in value:
                value[name] = _apply_defaults(sub, value[name])
        if isinstance(node.get("additionalProperties"), Mapping):
            for key in list(value):
                value[key] = _apply_defaults(node["additionalProperties"], value[key])
    elif isinstance(value, list) and isinstance(node.get("items"), Mapping):
        return [_apply_defaults(node["items"], item) for item in value]
    return value


def _shown(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 60 else text[:57] + "..."


def _scalar_errors(node: Mapping[str, Any], value: Any) -> list[str]:
    errors = []
    if "enum" in node and value not in node["enum"]:
        errors.append(f"Unsupported value {_shown(value)}: one of {node['enum']}")
    if isinstance(value, str):
        if len(value) > node.get("maxLength", len(value)):
            errors.append(f"Too long: may not be longer than {node['maxLength']}")
        if len(value) < node.get("minLength", 0):
            errors.append(f"Invalid value: at least {node['minLength']} characters")
        if "pattern" in node and not re.search(node["pattern"], value, re.ASCII):
            errors.append(f"Invalid value: does not match {node['pattern']!r}")
        if node.get("format") == "date-time":
            try:
                dt.datetime.fromisoformat(value.upper().replace("Z", "+00:00"))
            except ValueError:
                errors.append("Invalid value: not an RFC 3339 date-time")
    elif isinstance(value, int | float):
        if value < node.get("minimum", value):
            errors.append(f"Invalid value: {value} must be at least {node['minimum']}")
        if value > node.get("maximum", value):
            errors.append(f"Invalid value: {value} must be at most {node['maximum']}")
    return errors


def _list_errors(node: Mapping[str, Any], value: list[Any], path: str) -> list[str]:
    errors = []
    if len(value) > node.get("maxItems", len(value)):
        errors.append(f"{path}: Too many: may not have more than {node['maxItems']} items")
    keys = node.get("x-kubernetes-list-map-keys") or []
    seen: list[Any] = []
    for index, item in enumerate(value):
        if node.get("x-kubernetes-list-type") in ("set", "map"):
            identity = [item.get(k) for k in keys] if keys and isinstance(item, Mapping) else item
            if identity in seen:
                errors.append(f"{path}[{index}]: Duplicate value: {_shown(identity)}")
            seen.append(identity)
        errors += _schema_errors(node.get("items") or {}, item, f"{path}[{index}]")
    return errors


def _schema_errors(node: Mapping[str, Any], value: Any, path: str) -> list[str]:
    expected = node.get("type")
    types = _TYPES.get(expected or "", (object,))
    if not isinstance(value, types) or (expected != "boolean" and isinstance(value, bool)):
        return [f"{path}: Invalid value: {type(value).__name__}, not {expected}"]
    if isinstance(value, list):
        return _list_errors(node, value, path)
    if not isinstance(value, Mapping):
        return [f"{path}: {error}" for error in _scalar_errors(node, value)]
    errors = [f"{path}.{name}: Required value" for name in node.get("required") or []
              if name not in value]
    properties: Mapping[str, Any] = node.get("properties") or {}
    additional = node.get("additionalProperties")
    if len(value) > node.get("maxProperties", len(value)):
        errors.append(f"{path}: Too many: may not have more than {node['maxProperties']} keys")
    for name, item in value.items():
        if name in properties:
            errors += _schema_errors(properties[name], item, f"{path}.{name}")
        elif isinstance(additional, Mapping):
            errors += _schema_errors(additional, item, f"{path}.{name}")
        else:
            errors.append(f"{path}.{name}: unknown field")
    return errors


def _rule_errors(
    node: Mapping[str, Any], value: Any, path: str, crd: CrdSchema, counts: list[int]
) -> list[str]:
    errors = []
    for entry in node.get("x-kubernetes-validations") or []:
        rule = crd.rules[entry["rule"]]
        if rule.transition:
            counts[1] += 1
            continue
        counts[0] += 1
        outcome = rule.evaluate(value)
        if outcome is not True:
            why = entry["message"] if outcome is False else f"rule error: {outcome.message}"
            errors.append(f"{path}: {why}")
    if isinstance(value, Mapping):
        for name, sub in (node.get("properties") or {}).items():
            if name in value:
                errors += _rule_errors(sub, value[name], f"{path}.{name}", crd, counts)
        if isinstance(node.get("additionalProperties"), Mapping):
            for key, item in value.items():
                errors += _rule_errors(
                    node["additionalProperties"], item, f"{path}.{key}", crd, counts
                )
    elif isinstance(value, list) and isinstance(node.get("items"), Mapping):
        for index, item in enumerate(value):
            errors += _rule_errors(node["items"], item, f"{path}[{index}]", crd, counts)
    return errors


def _envelope_errors(crd: CrdSchema, obj: Mapping[str, Any]) -> list[str]:
    errors = [f"{name}: unknown field" for name in obj if name not in _TOP_LEVEL]
    if obj.get("apiVersion") not in crd.api_versions:
        errors.append(f"apiVersion: {_shown(obj.get('apiVersion'))} is not one of "
                      f"{list(crd.api_versions)}")
    metadata = obj.get("metadata")
    name = metadata.get("name") if isinstance(metadata, Mapping) else None
    if not isinstance(name, str) or len(name) > 253 or not _DNS_SUBDOMAIN.match(name):
        errors.append("metadata.name: Required value: a DNS-1123 subdomain")
    if not crd.namespaced and isinstance(metadata, Mapping) and "namespace" in metadata:
        errors.append(f"metadata.namespace: must be absent: {crd.kind} is cluster-scoped")
    if "spec" not in obj:
        errors.append("spec: Required value")
    return errors


def check_object(obj: Mapping[str, Any]) -> SchemaReport:
    """What creating ``obj`` would be refused for, after the schema's defaults."""
    crd = load_schemas().get(str(obj.get("kind")))
    if crd is None:
        return SchemaReport((f"kind: {_shown(obj.get('kind'))} is not one of ours",), 0, 0)
    errors = _envelope_errors(crd, obj)
    if errors:
        return SchemaReport(tuple(errors), 0, 0)
    spec = _apply_defaults(crd.schema, copy.deepcopy(obj["spec"]))
    errors = _schema_errors(crd.schema, spec, "spec")
    if errors:
        return SchemaReport(tuple(errors), 0, 0)
    counts = [0, 0]
    errors = _rule_errors(crd.schema, spec, "spec", crd, counts)
    return SchemaReport(tuple(errors), counts[0], counts[1])
