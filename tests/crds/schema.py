"""Check custom resources against this project's CRDs the way a kube-apiserver does.

Pure data code: apart from `load_documents`/`load_crd`/`load_crds` reading the
YAML files they are given, nothing here does I/O or needs a cluster.

What it does, in the apiserver's order:

- `apply_defaults` applies the schema's ``default`` values top-down (a defaulted
  ``{}`` gets its own fields' defaults), replaces ``null`` with the default where
  there is one and drops other ``null`` fields, as the apiserver does for
  non-nullable fields.
- `schema_errors` validates against the OpenAPI v3 subset structural schemas
  use (via ``jsonschema``), with unknown fields reported as errors (kubectl's
  default ``--validate=strict``), ``format: date-time`` and ``format: uuid``
  enforced, and apiVersion/kind/metadata.name checked.
- `cel_errors` evaluates every ``x-kubernetes-validations`` rule with cel-python,
  ``self`` bound to the node's value; transition rules (those naming ``oldSelf``)
  only when an old object is given and the node existed in it.
- `validate` is all three, as one call.
- `structural_problems` reviews a CRD itself: what the apiserver would refuse
  (untyped nodes, bad defaults, CEL that does not compile) plus this project's
  conventions (bounded strings/lists/maps so CEL cost stays low, static rule
  messages, a status subresource, printer columns that point at real fields).

Errors are strings ``"<field path>: <what is wrong>"``, e.g.
``"spec.secret.name: Required value"``; an empty list means valid.
"""

from __future__ import annotations

import copy
import datetime as dt
import functools
import re
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import jsonschema
import yaml

__all__ = [
    "CRD_DIR",
    "Crd",
    "apply_defaults",
    "cel_errors",
    "load_crd",
    "load_crds",
    "load_documents",
    "schema_errors",
    "structural_problems",
    "validate",
]

CRD_DIR = Path(__file__).resolve().parents[2] / "crds"

_MISSING: Any = object()
_DNS_SUBDOMAIN = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$")
_RFC3339 = re.compile(r"^\d{4}-\d{2}-\d{2}[Tt]\d{2}:\d{2}:\d{2}(\.\d+)?([Zz]|[+-]\d{2}:\d{2})$")
_UUID = re.compile(r"^[0-9a-fA-F]{8}-?([0-9a-fA-F]{4}-?){3}[0-9a-fA-F]{12}$")
_OLD_SELF = re.compile(r"\boldSelf\b")
_JSON_PATH_STEP = re.compile(r"\.([A-Za-z0-9_-]+)(?:\[(\?\(@\.([A-Za-z0-9_-]+)[^\]]*\)|\d+|\*)\])?")
_PRINTER_TYPES = frozenset({"integer", "number", "string", "boolean", "date"})
_SCALAR_TYPES = frozenset({"string", "integer", "number", "boolean"})


# --------------------------------------------------------------------------- loading


class _KubeYamlLoader(yaml.SafeLoader):
    """SafeLoader that keeps timestamps as strings, as Kubernetes' YAML→JSON does."""


_KubeYamlLoader.yaml_implicit_resolvers = {
    first: [(tag, regexp) for tag, regexp in resolvers if tag != "tag:yaml.org,2002:timestamp"]
    for first, resolvers in yaml.SafeLoader.yaml_implicit_resolvers.items()
}


def load_documents(path: Path | str) -> list[dict[str, Any]]:
    """All non-empty documents of a (multi-document) YAML file."""
    text = Path(path).read_text(encoding="utf-8")
    docs = [doc for doc in yaml.load_all(text, Loader=_KubeYamlLoader) if doc is not None]
    for doc in docs:
        if not isinstance(doc, dict):
            raise ValueError(f"{path}: a document is a {type(doc).__name__}, not a mapping")
    return docs


@dataclass(frozen=True, eq=False)
class Crd:
    """A CustomResourceDefinition document (read-only view; hashed by identity)."""

    body: Mapping[str, Any]

    @classmethod
    def from_dict(cls, body: Mapping[str, Any]) -> Crd:
        if body.get("kind") != "CustomResourceDefinition":
            raise ValueError(f"not a CustomResourceDefinition: kind={body.get('kind')!r}")
        if body.get("apiVersion") != "apiextensions.k8s.io/v1":
            raise ValueError(f"not apiextensions.k8s.io/v1: {body.get('apiVersion')!r}")
        return cls(body=body)

    @property
    def name(self) -> str:
        return str(self.body["metadata"]["name"])

    @property
    def group(self) -> str:
        return str(self.body["spec"]["group"])

    @property
    def names(self) -> Mapping[str, Any]:
        names: Mapping[str, Any] = self.body["spec"]["names"]
        return names

    @property
    def kind(self) -> str:
        return str(self.names["kind"])

    @property
    def plural(self) -> str:
        return str(self.names["plural"])

    @property
    def scope(self) -> str:
        return str(self.body["spec"]["scope"])

    @property
    def versions(self) -> list[Mapping[str, Any]]:
        return list(self.body["spec"]["versions"])

    @property
    def storage_version(self) -> str:
        return next(str(v["name"]) for v in self.versions if v.get("storage"))

    def version(self, name: str | None = None) -> Mapping[str, Any]:
        """One version entry; the storage version when `name` is None."""
        wanted = name or self.storage_version
        for entry in self.versions:
            if entry["name"] == wanted:
                return entry
        raise KeyError(f"{self.name} has no version {wanted!r}")

    def schema(self, version: str | None = None) -> Mapping[str, Any]:
        """The ``openAPIV3Schema`` of one version (storage version by default)."""
        schema: Mapping[str, Any] = self.version(version)["schema"]["openAPIV3Schema"]
        return schema

    def version_of(self, obj: Mapping[str, Any]) -> str | None:
        """The served version an object's apiVersion names, or None if it names none."""
        for entry in self.versions:
            if entry.get("served") and obj.get("apiVersion") == f"{self.group}/{entry['name']}":
                return str(entry["name"])
        return None


def load_crd(path: Path | str) -> Crd:
    """The single CustomResourceDefinition in a YAML file."""
    docs = load_documents(path)
    if len(docs) != 1:
        raise ValueError(f"{path}: expected one document, found {len(docs)}")
    return Crd.from_dict(docs[0])


def load_crds(directory: Path | str = CRD_DIR) -> dict[str, Crd]:
    """Every CRD in a directory's ``*.yaml`` files, keyed by kind."""
    crds: dict[str, Crd] = {}
    for path in sorted(Path(directory).glob("*.yaml")):
        for doc in load_documents(path):
            crd = Crd.from_dict(doc)
            crds[crd.kind] = crd
    return crds


# --------------------------------------------------------------------------- schema walking


def _children(node: Mapping[str, Any], path: str) -> Iterator[tuple[str, Mapping[str, Any]]]:
    """Direct sub-schemas of a schema node, with display paths."""
    for name, sub in (node.get("properties") or {}).items():
        yield f"{path}.{name}" if path else name, sub
    additional = node.get("additionalProperties")
    if isinstance(additional, Mapping):
        yield f"{path}[*]", additional
    items = node.get("items")
    if isinstance(items, Mapping):
        yield f"{path}[]", items


def _walk(node: Mapping[str, Any], path: str = "") -> Iterator[tuple[str, Mapping[str, Any]]]:
    yield path, node
    for child_path, child in _children(node, path):
        yield from _walk(child, child_path)


def _display(parts: Any) -> str:
    out = ""
    for part in parts:
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else str(part))
    return out or "<root>"


# --------------------------------------------------------------------------- defaulting


def _default_value(node: Mapping[str, Any], value: Any) -> Any:
    if isinstance(value, dict):
        properties: Mapping[str, Any] = node.get("properties") or {}
        for name, sub in properties.items():
            current = value.get(name, _MISSING)
            if current is None and not sub.get("nullable"):
                del value[name]
                current = _MISSING
            if current is _MISSING and "default" in sub:
                value[name] = copy.deepcopy(sub["default"])
        for name, sub in properties.items():
            if name in value:
                value[name] = _default_value(sub, value[name])
        additional = node.get("additionalProperties")
        if isinstance(additional, Mapping):
            for key in list(value):
                value[key] = _default_value(additional, value[key])
    elif isinstance(value, list) and isinstance(node.get("items"), Mapping):
        return [_default_value(node["items"], item) for item in value]
    return value


def apply_defaults(
    crd: Crd, obj: Mapping[str, Any], *, version: str | None = None
) -> dict[str, Any]:
    """A deep copy of `obj` with the CRD's schema defaults applied; `obj` is untouched."""
    result: dict[str, Any] = _default_value(
        crd.schema(version or crd.version_of(obj)), copy.deepcopy(dict(obj))
    )
    return result


# --------------------------------------------------------------------------- OpenAPI validation


_FORMATS = jsonschema.FormatChecker(formats=())


@_FORMATS.checks("date-time")
def _is_rfc3339(value: object) -> bool:
    if not isinstance(value, str):
        return True
    if not _RFC3339.match(value):
        return False
    try:
        dt.datetime.fromisoformat(value.upper().replace("Z", "+00:00"))
    except ValueError:
        return False
    return True


@_FORMATS.checks("uuid")
def _is_uuid(value: object) -> bool:
    return not isinstance(value, str) or bool(_UUID.match(value))


def _to_json_schema(node: Mapping[str, Any], *, root: bool = False) -> dict[str, Any]:
    """The JSON Schema a structural schema means, unknown fields forbidden."""
    out: dict[str, Any] = {
        key: value
        for key, value in node.items()
        if not key.startswith("x-kubernetes-")
        and key not in {"properties", "items", "additionalProperties", "nullable", "default"}
    }
    preserve = bool(node.get("x-kubernetes-preserve-unknown-fields"))
    if node.get("x-kubernetes-int-or-string"):
        out.pop("type", None)
        out["anyOf"] = [{"type": "integer"}, {"type": "string"}]
    if node.get("nullable") and "type" in out:
        out["type"] = [out["type"], "null"]
    if "properties" in node:
        out["properties"] = {
            name: {"type": "object"} if root and name == "metadata" else _to_json_schema(sub)
            for name, sub in node["properties"].items()
        }
        if not preserve:
            out["additionalProperties"] = False
    if isinstance(node.get("additionalProperties"), Mapping):
        out["additionalProperties"] = _to_json_schema(node["additionalProperties"])
    if isinstance(node.get("items"), Mapping):
        out["items"] = _to_json_schema(node["items"])
    if node.get("x-kubernetes-list-type") == "set":
        out["uniqueItems"] = True
    return out


def _map_key(node: Mapping[str, Any], item: Any) -> tuple[Any, ...] | None:
    keys = node.get("x-kubernetes-list-map-keys") or []
    if not isinstance(item, Mapping) or not keys:
        return None
    return tuple(item.get(key) for key in keys)


def _map_list_errors(node: Mapping[str, Any], value: Any, path: str) -> list[str]:
    """Duplicate keys in ``x-kubernetes-list-type: map`` lists (JSON Schema cannot say)."""
    errors: list[str] = []
    if isinstance(value, list) and node.get("x-kubernetes-list-type") == "map":
        seen: set[tuple[Any, ...]] = set()
        for index, item in enumerate(value):
            key = _map_key(node, item)
            if key is not None and key in seen:
                names = node["x-kubernetes-list-map-keys"]
                shown = ", ".join(f"{n}={k!r}" for n, k in zip(names, key, strict=True))
                errors.append(f"{path}[{index}]: Duplicate value: {shown}")
            elif key is not None:
                seen.add(key)
    if isinstance(value, Mapping):
        for name, sub in (node.get("properties") or {}).items():
            if name in value:
                errors += _map_list_errors(sub, value[name], f"{path}.{name}" if path else name)
        additional = node.get("additionalProperties")
        if isinstance(additional, Mapping):
            for key, item in value.items():
                errors += _map_list_errors(additional, item, f"{path}.{key}")
    elif isinstance(value, list) and isinstance(node.get("items"), Mapping):
        for index, item in enumerate(value):
            errors += _map_list_errors(node["items"], item, f"{path}[{index}]")
    return errors


@functools.lru_cache(maxsize=64)
def _validator_for(crd: Crd, version: str) -> jsonschema.protocols.Validator:
    schema = _to_json_schema(crd.schema(version), root=True)
    validator: jsonschema.protocols.Validator = jsonschema.Draft7Validator(
        schema, format_checker=_FORMATS
    )
    return validator


def _describe(error: jsonschema.ValidationError) -> list[str]:
    path = list(error.absolute_path)
    if error.validator == "required":
        missing = [name for name in error.validator_value if name not in error.instance]
        return [f"{_display([*path, name])}: Required value" for name in missing]
    if error.validator == "additionalProperties" and error.validator_value is False:
        known = error.schema.get("properties", {})
        return [
            f"{_display([*path, name])}: unknown field"
            for name in error.instance
            if name not in known
        ]
    return [f"{_display(path)}: {error.message}"]


def _metadata_errors(crd: Crd, obj: Mapping[str, Any]) -> list[str]:
    metadata = obj.get("metadata")
    if not isinstance(metadata, Mapping):
        return ["metadata: Required value"]
    errors: list[str] = []
    name = metadata.get("name")
    if name is None and not metadata.get("generateName"):
        errors.append("metadata.name: Required value")
    elif name is not None and (
        not isinstance(name, str) or len(name) > 253 or not _DNS_SUBDOMAIN.match(name)
    ):
        errors.append(f"metadata.name: Invalid value {name!r}: not a DNS-1123 subdomain")
    if crd.scope == "Cluster" and "namespace" in metadata:
        errors.append(f"metadata.namespace: must be absent: {crd.kind} is cluster-scoped")
    return errors


def schema_errors(crd: Crd, obj: Mapping[str, Any], *, version: str | None = None) -> list[str]:
    """OpenAPI errors of `obj` as given (no defaulting, no CEL); empty if valid."""
    errors: list[str] = []
    if obj.get("kind") != crd.kind:
        errors.append(f"kind: {obj.get('kind')!r} is not {crd.kind!r}")
    resolved = version or crd.version_of(obj)
    if resolved is None:
        served = [f"{crd.group}/{v['name']}" for v in crd.versions if v.get("served")]
        errors.append(f"apiVersion: {obj.get('apiVersion')!r} is not one of {served}")
        resolved = crd.storage_version
    errors += _metadata_errors(crd, obj)
    validator = _validator_for(crd, resolved)
    for error in sorted(validator.iter_errors(dict(obj)), key=lambda e: list(map(str, e.path))):
        errors += _describe(error)
    errors += _map_list_errors(crd.schema(resolved), obj, "")
    return errors


# --------------------------------------------------------------------------- CEL


@functools.lru_cache(maxsize=256)
def _cel_program(rule: str) -> Any:
    import celpy  # cel-python; imported here so loading/defaulting work without it

    environment = celpy.Environment()
    return environment.program(environment.compile(rule))


def _evaluate(rule: str, value: Any, old: Any) -> bool | str:
    """True/False for a rule's result, or a string saying why it could not run."""
    import celpy
    from celpy import celtypes

    activation = {"self": celpy.json_to_cel(value)}
    if old is not _MISSING:
        activation["oldSelf"] = celpy.json_to_cel(old)
    try:
        result = _cel_program(rule).evaluate(activation)
    except celpy.CELEvalError as error:
        return f"rule evaluation error: {error.args[0] if error.args else error}"
    if isinstance(result, celpy.CELEvalError):
        return f"rule evaluation error: {result.args[0] if result.args else result}"
    if not isinstance(result, celtypes.BoolType):
        return f"rule did not evaluate to a bool: {rule}"
    return bool(result)


def _cel_walk(node: Mapping[str, Any], value: Any, old: Any, path: str, out: list[str]) -> None:
    for entry in node.get("x-kubernetes-validations") or []:
        rule = entry["rule"]
        if _OLD_SELF.search(rule) and old is _MISSING:
            continue
        outcome = _evaluate(rule, value, old)
        if outcome is True:
            continue
        message = entry.get("message") or f"failed rule: {rule}"
        out.append(f"{path or '<root>'}: {message if outcome is False else outcome}")

    if isinstance(value, Mapping):
        for name, sub in (node.get("properties") or {}).items():
            if name in value:
                child_old = old.get(name, _MISSING) if isinstance(old, Mapping) else _MISSING
                _cel_walk(sub, value[name], child_old, f"{path}.{name}" if path else name, out)
        additional = node.get("additionalProperties")
        if isinstance(additional, Mapping):
            for key, item in value.items():
                child_old = old.get(key, _MISSING) if isinstance(old, Mapping) else _MISSING
                _cel_walk(additional, item, child_old, f"{path}.{key}", out)
    elif isinstance(value, list) and isinstance(node.get("items"), Mapping):
        old_items: dict[tuple[Any, ...], Any] = {}
        if node.get("x-kubernetes-list-type") == "map" and isinstance(old, list):
            old_items = {k: item for item in old if (k := _map_key(node, item)) is not None}
        for index, item in enumerate(value):
            key = _map_key(node, item) if node.get("x-kubernetes-list-type") == "map" else None
            child_old = old_items.get(key, _MISSING) if key is not None else _MISSING
            _cel_walk(node["items"], item, child_old, f"{path}[{index}]", out)


def cel_errors(
    crd: Crd,
    obj: Mapping[str, Any],
    *,
    old: Mapping[str, Any] | None = None,
    version: str | None = None,
) -> list[str]:
    """Messages of the ``x-kubernetes-validations`` rules `obj` breaks; empty if none.

    `obj` (and `old`) should already carry defaults, as on the apiserver. Rules
    naming ``oldSelf`` run only with `old`, on nodes present in both objects.
    Needs cel-python (``import celpy``).
    """
    out: list[str] = []
    schema = crd.schema(version or crd.version_of(obj))
    _cel_walk(schema, dict(obj), _MISSING if old is None else dict(old), "", out)
    return out


def validate(
    crd: Crd,
    obj: Mapping[str, Any],
    *,
    old: Mapping[str, Any] | None = None,
    defaults: bool = True,
) -> list[str]:
    """Everything a create (or, with `old`, an update) would be refused for.

    Defaults are applied first (to `old` too) unless `defaults` is False; CEL
    rules run only when the object passes the OpenAPI schema, so their messages
    are not drowned by type errors. Empty list: the apiserver would accept it.
    """
    current = apply_defaults(crd, obj) if defaults else dict(obj)
    errors = schema_errors(crd, current)
    if errors:
        return errors
    previous = None if old is None else (apply_defaults(crd, old) if defaults else dict(old))
    return cel_errors(crd, current, old=previous)


# --------------------------------------------------------------------------- CRD review


def _node_problems(path: str, node: Mapping[str, Any], *, root_meta: bool) -> list[str]:
    where = path or "<root>"
    problems: list[str] = []
    kind = node.get("type")
    if kind is None and not node.get("x-kubernetes-int-or-string"):
        problems.append(f"{where}: no type")
    if node.get("x-kubernetes-preserve-unknown-fields"):
        problems.append(f"{where}: preserves unknown fields (keep schemas strict)")
    additional = node.get("additionalProperties")
    if isinstance(additional, bool):
        problems.append(f"{where}: additionalProperties must be a schema, not {additional}")
    if "properties" in node and additional is not None:
        problems.append(f"{where}: both properties and additionalProperties")
    if kind == "string" and "maxLength" not in node and "enum" not in node and not root_meta:
        problems.append(f"{where}: string without maxLength or enum")
    if kind == "array":
        if "maxItems" not in node:
            problems.append(f"{where}: array without maxItems")
        if not isinstance(node.get("items"), Mapping):
            problems.append(f"{where}: array without items")
    if kind == "object" and isinstance(additional, Mapping) and "maxProperties" not in node:
        problems.append(f"{where}: map without maxProperties")
    if node.get("x-kubernetes-list-type") == "set":
        items = node.get("items") or {}
        if items.get("type") not in _SCALAR_TYPES:
            problems.append(f"{where}: list-type set needs scalar items")
    if node.get("x-kubernetes-list-type") == "map":
        items = node.get("items") or {}
        keys = node.get("x-kubernetes-list-map-keys") or []
        if not keys:
            problems.append(f"{where}: list-type map without list-map-keys")
        for key in keys:
            sub = (items.get("properties") or {}).get(key)
            if sub is None or (key not in (items.get("required") or []) and "default" not in sub):
                problems.append(f"{where}: map key {key!r} must be a required or defaulted field")
    return problems


def _rule_problems(path: str, node: Mapping[str, Any]) -> list[str]:
    import celpy

    problems: list[str] = []
    for entry in node.get("x-kubernetes-validations") or []:
        where = f"{path or '<root>'}: rule {entry.get('rule')!r}"
        if "messageExpression" in entry:
            problems.append(f"{where}: use a static message, not messageExpression")
        if not entry.get("message"):
            problems.append(f"{where}: no message")
        try:
            _cel_program(str(entry.get("rule", "")))
        except celpy.CELParseError as error:
            problems.append(f"{where}: does not compile: {error}")
    return problems


def _default_problems(path: str, node: Mapping[str, Any]) -> list[str]:
    if "default" not in node:
        return []
    value = _default_value(node, copy.deepcopy(node["default"]))
    validator = jsonschema.Draft7Validator(_to_json_schema(node), format_checker=_FORMATS)
    return [
        f"{path or '<root>'}: default {node['default']!r} is invalid: {error.message}"
        for error in validator.iter_errors(value)
    ]


def _resolve_json_path(schema: Mapping[str, Any], json_path: str) -> str | None:
    """Why a printer column's JSONPath points at no field of the schema, or None."""
    steps = list(_JSON_PATH_STEP.finditer(json_path))
    if not steps or "".join(step.group(0) for step in steps) != json_path:
        return "not a simple .field[selector] path"
    node: Mapping[str, Any] = schema
    for step in steps:
        name, selector, filter_field = step.groups()
        if node is schema and name == "metadata":
            return None
        properties = node.get("properties") or {}
        if name not in properties:
            return f"no field {name!r}"
        node = properties[name]
        if selector is not None:
            if node.get("type") != "array":
                return f"{name!r} is not a list"
            node = node["items"]
            if filter_field is not None and filter_field not in (node.get("properties") or {}):
                return f"filter on unknown field {filter_field!r}"
    return None


def structural_problems(crd: Crd) -> list[str]:
    """What is wrong with a CRD itself (apiserver rules and project conventions)."""
    problems: list[str] = []
    if crd.name != f"{crd.plural}.{crd.group}":
        problems.append(f"metadata.name {crd.name!r} is not {crd.plural}.{crd.group}")
    if sum(1 for v in crd.versions if v.get("storage")) != 1:
        problems.append("exactly one version must be the storage version")
    for entry in crd.versions:
        label = f"version {entry['name']}"
        if not entry.get("served"):
            problems.append(f"{label}: not served")
        if (entry.get("subresources") or {}).get("status") != {}:
            problems.append(f"{label}: no status subresource")
        schema = entry["schema"]["openAPIV3Schema"]
        if schema.get("type") != "object":
            problems.append(f"{label}: root schema is not an object")
        if (schema.get("properties") or {}).get("metadata", {}).get("properties"):
            problems.append(f"{label}: metadata schema may not restrict fields")
        for path, node in _walk(schema):
            root_meta = path in {"apiVersion", "kind"}
            for found in _node_problems(path, node, root_meta=root_meta):
                problems.append(f"{label}: {found}")
            for found in _rule_problems(path, node) + _default_problems(path, node):
                problems.append(f"{label}: {found}")
        for column in entry.get("additionalPrinterColumns") or []:
            name = column.get("name")
            if column.get("type") not in _PRINTER_TYPES:
                problems.append(f"{label}: column {name}: bad type {column.get('type')!r}")
            why = _resolve_json_path(schema, str(column.get("jsonPath", "")))
            if why:
                problems.append(f"{label}: column {name}: jsonPath {column.get('jsonPath')}: {why}")
    return problems
