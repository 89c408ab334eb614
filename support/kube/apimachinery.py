"""Pure helpers for the emulator: URL parsing, verbs, Status errors, selectors, patches, schemas.

Nothing here does I/O or keeps state; :mod:`.emulator` applies these rules to its store.
"""

from __future__ import annotations

import base64
import binascii
import copy
import json
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

import jsonpatch
import kmock
from kmock._internal import parsing

__all__ = [
    "NAMESPACE_SUBRESOURCES",
    "ApiCall",
    "CustomResource",
    "already_exists",
    "apply_patch",
    "bad_request",
    "conflict",
    "field_selector_matches",
    "forbidden_terminating",
    "invalid",
    "label_selector_matches",
    "normalize_by_schema",
    "not_found",
    "parse_api_path",
    "parse_crd",
    "verb_of",
]

#: ``/api/v1/namespaces/NAME/<sub>`` is a Namespace subresource, not a namespaced list.
NAMESPACE_SUBRESOURCES = frozenset({"status", "finalize"})

_SECRET_KEY = re.compile(r"^[-._a-zA-Z0-9]+$")


# --- URLs and verbs -------------------------------------------------------------------------


def parse_api_path(path: str) -> parsing.ParsedPath:
    """Split an API path like the API server does (kmock's own parser trips on Namespaces).

    ``/api/v1/namespaces`` and ``/api/v1/namespaces/NAME[/status]`` address the Namespace
    resource itself; kmock reads them as a namespace with no resource (or fails).
    """
    parts = [part for part in path.strip("/").split("/") if part]
    if len(parts) >= 2 and parts[0] == "api":
        group, version, rest = "", parts[1], parts[2:]
    elif len(parts) >= 3 and parts[0] == "apis":
        group, version, rest = parts[1], parts[2], parts[3:]
    elif len(parts) == 2 and parts[0] == "apis":
        return parsing.ParsedPath(group=parts[1])
    else:
        return parsing.ParsedPath()

    namespace: str | None = None
    is_namespace_itself = (
        group == ""
        and rest[:1] == ["namespaces"]
        and (len(rest) <= 2 or (len(rest) == 3 and rest[2] in NAMESPACE_SUBRESOURCES))
    )
    if rest[:1] == ["namespaces"] and len(rest) >= 3 and not is_namespace_itself:
        namespace, rest = rest[1], rest[2:]
    plural = rest[0] if rest else None
    name = rest[1] if len(rest) >= 2 else None
    subresource = "/".join(rest[2:]) or None
    return parsing.ParsedPath(group, version, plural, namespace, name, subresource)


def verb_of(method: str, *, name: str | None, params: Mapping[str, str]) -> str:
    """The RBAC verb of a resource request."""
    method = method.upper()
    if method == "GET":
        if params.get("watch", "").lower() in {"true", "1"}:
            return "watch"
        return "get" if name else "list"
    if method == "DELETE":
        return "delete" if name else "deletecollection"
    return {"POST": "create", "PUT": "update", "PATCH": "patch"}.get(method, method.lower())


@dataclass(frozen=True)
class ApiCall:
    """One request as RBAC sees it (plus what it was and how it ended)."""

    verb: str  #: get list watch create update patch delete deletecollection; or the HTTP verb
    group: str | None  #: None for non-resource URLs (/api, /apis, /version)
    version: str | None
    resource: str | None
    subresource: str | None
    namespace: str | None
    name: str | None
    namespaced: bool  #: whether the URL was inside a namespace (Role vs ClusterRole)
    method: str
    path: str
    status: int
    #: The label selector the request asked the server to apply, if any.
    label_selector: str | None = None

    @property
    def rbac_resource(self) -> str | None:
        """``secrets`` or ``serviceaccountbindings/status``, as written in a Role."""
        if self.resource is None:
            return None
        return f"{self.resource}/{self.subresource}" if self.subresource else self.resource


# --- Status errors ----------------------------------------------------------------------------


def _error(
    code: int, reason: str, message: str, details: Mapping[str, Any] | None = None
) -> kmock.KubernetesError:
    return kmock.KubernetesError(
        status=code, reason=reason, message=message, details=dict(details or {"causes": []})
    )


def _details(plural: str, group: str, name: str | None) -> dict[str, Any]:
    return {"name": name or "", "group": group, "kind": plural}


def not_found(plural: str, group: str, name: str) -> kmock.KubernetesError:
    qualified = f"{plural}.{group}" if group else plural
    return _error(404, "NotFound", f'{qualified} "{name}" not found', _details(plural, group, name))


def already_exists(plural: str, group: str, name: str) -> kmock.KubernetesError:
    qualified = f"{plural}.{group}" if group else plural
    message = f'{qualified} "{name}" already exists'
    return _error(409, "AlreadyExists", message, _details(plural, group, name))


def conflict(plural: str, group: str, name: str, why: str | None = None) -> kmock.KubernetesError:
    qualified = f"{plural}.{group}" if group else plural
    why = why or (
        "the object has been modified; please apply your changes to the latest version "
        "and try again"
    )
    message = f'Operation cannot be fulfilled on {qualified} "{name}": {why}'
    return _error(409, "Conflict", message, _details(plural, group, name))


def invalid(kind: str, group: str, name: str, problems: Iterable[str]) -> kmock.KubernetesError:
    problems = list(problems)
    message = f'{kind} "{name}" is invalid: {"; ".join(problems)}'
    details = {
        "name": name,
        "group": group,
        "kind": kind,
        "causes": [{"reason": "FieldValueInvalid", "message": problem} for problem in problems],
    }
    return _error(422, "Invalid", message, details)


def bad_request(message: str) -> kmock.KubernetesError:
    return _error(400, "BadRequest", message)


def forbidden_terminating(
    plural: str, group: str, name: str, namespace: str
) -> kmock.KubernetesError:
    qualified = f"{plural}.{group}" if group else plural
    message = (
        f'{qualified} "{name}" is forbidden: unable to create new content in namespace '
        f"{namespace} because it is being terminated"
    )
    details = {
        **_details(plural, group, name),
        "causes": [
            {
                "reason": "NamespaceTerminating",
                "message": f"namespace {namespace} is being terminated",
                "field": "metadata.namespace",
            }
        ],
    }
    return _error(403, "Forbidden", message, details)


# --- Selectors --------------------------------------------------------------------------------

_SET_REQUIREMENT = re.compile(r"^\s*([^\s!=]+)\s+(in|notin)\s+\(([^)]*)\)\s*$")


def _split_selector(selector: str) -> list[str]:
    """Split on commas that are not inside ``in (a,b)`` parentheses."""
    terms, depth, current = [], 0, ""
    for char in selector:
        depth += {"(": 1, ")": -1}.get(char, 0)
        if char == "," and depth == 0:
            terms.append(current)
            current = ""
        else:
            current += char
    terms.append(current)
    return [term.strip() for term in terms if term.strip()]


def label_selector_matches(selector: str | None, labels: Mapping[str, str]) -> bool:
    """Equality- and set-based label selectors: ``a=b,c!=d,e,!f,g in (h,i),j notin (k)``."""
    for term in _split_selector(selector or ""):
        if match := _SET_REQUIREMENT.match(term):
            key, operator, values = match.groups()
            wanted = {value.strip() for value in values.split(",")}
            present = key in labels and labels[key] in wanted
            if present != (operator == "in"):
                return False
        elif "!=" in term:
            key, value = (part.strip() for part in term.split("!=", 1))
            if labels.get(key) == value:
                return False
        elif "=" in term:
            key, value = (part.strip() for part in term.replace("==", "=").split("=", 1))
            if labels.get(key) != value:
                return False
        elif term.startswith("!"):
            if term[1:].strip() in labels:
                return False
        elif term not in labels:
            return False
    return True


def field_selector_matches(selector: str | None, obj: Mapping[str, Any]) -> bool:
    """Field selectors on ``metadata.name`` / ``metadata.namespace`` (what every resource has)."""
    for term in _split_selector(selector or ""):
        negate = "!=" in term
        path, value = (
            part.strip() for part in term.replace("!=", "=").replace("==", "=").split("=", 1)
        )
        current: Any = obj
        for step in path.split("."):
            current = current.get(step) if isinstance(current, Mapping) else None
        if (str(current) == value if current is not None else value == "") == negate:
            return False
    return True


# --- Patches ----------------------------------------------------------------------------------


def json_merge_patch(target: Any, patch: Any) -> Any:
    """RFC 7386: dicts merge recursively, ``null`` deletes, everything else replaces."""
    if not isinstance(patch, Mapping):
        return copy.deepcopy(patch)
    result = dict(target) if isinstance(target, Mapping) else {}
    for key, value in patch.items():
        if value is None:
            result.pop(key, None)
        else:
            result[key] = json_merge_patch(result.get(key), value)
    return result


def apply_patch(
    current: Mapping[str, Any], patch: Any, *, content_type: str, custom: bool, kind: str, name: str
) -> dict[str, Any]:
    """Apply a PATCH body the way its Content-Type says.

    Strategic merge patch is applied as a JSON merge patch (lists are replaced, not merged by
    key) and refused for custom resources, like the API server does (415).
    """
    media = content_type.split(";")[0].strip().lower()
    if media == "application/json-patch+json":
        if not isinstance(patch, list):
            raise bad_request("json patch must be a list of operations")
        try:
            result = jsonpatch.apply_patch(copy.deepcopy(dict(current)), patch)
        except jsonpatch.JsonPatchTestFailed as error:
            raise invalid(kind, "", name, [f"the server rejected our request: {error}"]) from None
        except (jsonpatch.JsonPatchException, jsonpatch.JsonPointerException) as error:
            raise invalid(kind, "", name, [str(error)]) from None
        if not isinstance(result, dict):
            raise bad_request("json patch produced a non-object")
        return result
    if media == "application/strategic-merge-patch+json" and custom:
        raise kmock.KubernetesError(
            status=415,
            reason="UnsupportedMediaType",
            message=f"the body of the request was in an unknown format - accepted media types "
            f"include: application/json-patch+json, application/merge-patch+json (got {media})",
            details={"causes": []},
        )
    if media in {"application/merge-patch+json", "application/strategic-merge-patch+json"}:
        if not isinstance(patch, Mapping):
            raise bad_request("merge patch must be a JSON object")
        result = json_merge_patch(current, patch)
        assert isinstance(result, dict)
        return result
    raise kmock.KubernetesError(
        status=415,
        reason="UnsupportedMediaType",
        message=f"the emulator does not support PATCH with Content-Type {media!r}",
        details={"causes": []},
    )


# --- Secrets ----------------------------------------------------------------------------------


def normalize_secret(secret: dict[str, Any], old: Mapping[str, Any] | None) -> list[str]:
    """Fold ``stringData`` into ``data``, default the type; return validation problems."""
    problems: list[str] = []
    data = dict(secret.get("data") or {})
    for key, value in (secret.pop("stringData", None) or {}).items():
        data[key] = base64.b64encode(str(value).encode()).decode()
    for key, value in data.items():
        if not _SECRET_KEY.match(key):
            problems.append(
                f"data[{key}]: Invalid value: {key!r}: a valid config key must consist of "
                "alphanumeric characters, '-', '_' or '.'"
            )
        if not isinstance(value, str):
            raise bad_request(
                f'Secret in version "v1" cannot be handled: data[{key}] is not a string'
            )
        try:
            base64.b64decode(value, validate=True)
        except (binascii.Error, ValueError):
            raise bad_request(f"illegal base64 data in Secret data[{key}]") from None
    if data:
        secret["data"] = data
    else:
        secret.pop("data", None)
    secret.setdefault("type", "Opaque")
    if old is not None:
        if secret["type"] != old.get("type", "Opaque"):
            problems.append("type: Invalid value: field is immutable")
        if old.get("immutable") and (
            secret.get("data") != old.get("data") or not secret.get("immutable")
        ):
            problems.append("data: Forbidden: field is immutable when `immutable` is set")
    return problems


# --- Custom resources -------------------------------------------------------------------------


@dataclass(frozen=True)
class CustomResource:
    """One served version of a CRD, as the emulator needs it."""

    group: str
    version: str
    plural: str
    kind: str
    singular: str
    namespaced: bool
    shortnames: tuple[str, ...]
    categories: tuple[str, ...]
    subresources: tuple[str, ...]
    schema: Mapping[str, Any] | None


def parse_crd(crd: Mapping[str, Any]) -> list[CustomResource]:
    spec = crd["spec"]
    names = spec["names"]
    result = []
    for version in spec.get("versions", []):
        if not version.get("served", True):
            continue
        result.append(
            CustomResource(
                group=spec["group"],
                version=version["name"],
                plural=names["plural"],
                kind=names["kind"],
                singular=names.get("singular") or names["kind"].lower(),
                namespaced=spec.get("scope", "Namespaced") == "Namespaced",
                shortnames=tuple(names.get("shortNames", ())),
                categories=tuple(names.get("categories", ())),
                subresources=tuple(sorted((version.get("subresources") or {}).keys())),
                schema=(version.get("schema") or {}).get("openAPIV3Schema"),
            )
        )
    return result


def normalize_by_schema(value: Any, schema: Mapping[str, Any] | None, *, root: bool = False) -> Any:
    """Prune unknown fields and apply ``default``s, as the API server does for structural schemas.

    No validation (types, enums, patterns, CEL) happens here: that is the real API server's job,
    covered by the end-to-end suite.
    """
    if not isinstance(schema, Mapping):
        return value
    if isinstance(value, Mapping):
        properties = schema.get("properties")
        additional = schema.get("additionalProperties")
        preserve = bool(schema.get("x-kubernetes-preserve-unknown-fields"))
        result: dict[str, Any] = {}
        for key, item in value.items():
            if root and key in {"apiVersion", "kind", "metadata"}:
                result[key] = item
            elif isinstance(properties, Mapping) and key in properties:
                result[key] = normalize_by_schema(item, properties[key])
            elif isinstance(additional, Mapping):
                result[key] = normalize_by_schema(item, additional)
            elif additional is True or preserve:
                result[key] = item
        for key, subschema in (properties or {}).items():
            if key not in result and isinstance(subschema, Mapping) and "default" in subschema:
                result[key] = normalize_by_schema(copy.deepcopy(subschema["default"]), subschema)
        return result
    if isinstance(value, list) and isinstance(schema.get("items"), Mapping):
        return [normalize_by_schema(item, schema["items"]) for item in value]
    return value


def canonical(obj: Any) -> str:
    return json.dumps(obj, sort_keys=True, separators=(",", ":"))
