"""``metadata.managedFields`` as the API server keeps them for Update operations.

Pure functions; :class:`~.store.Store` calls :func:`track` on every create and update. What
the real server (k8s.io/apiserver ``fieldmanager`` over structured-merge-diff) does, and what
this approximates:

- The manager is the request's ``fieldManager`` query parameter, else the User-Agent up to its
  first ``/`` (non-printable characters dropped, at most 128 bytes): ``OpenAPI-Generator`` for
  the kubernetes Python client, ``kopf`` for kopf, ``kubectl`` for kubectl without a manager.
- One entry per manager, operation (creates are ``Update`` too), apiVersion and subresource
  (``status`` for writes to ``/status``), with ``fieldsType: FieldsV1`` and a ``fieldsV1`` tree.
- A write compares the stored object with the new one: the manager gains every field it added
  or changed (leaves, plus ``.`` for maps and list items it created), every other manager loses
  those, and everyone loses removed fields. An entry's ``time`` moves only when its manager
  changed something; managers left with no fields are dropped. ``apiVersion``, ``kind`` and the
  server's metadata (name, namespace, uid, resourceVersion, generation, creationTimestamp...)
  are never owned.
- Lists are atomic (one leaf) unless the schema says otherwise: ``metadata.finalizers`` is a
  set (``v:"…"`` items), ``metadata.ownerReferences`` a map keyed by ``uid`` (``k:{"uid":…}``),
  and a CRD's ``x-kubernetes-list-type: set|map`` (with ``x-kubernetes-list-map-keys``) and
  ``x-kubernetes-map-type: atomic`` are honoured. Built-in types' other associative lists
  (a Pod's containers, ...) are treated as atomic.
- ``managedFields`` sent in a create or main-resource write replace the stored ones (``[{}]``
  resets them, absent or ``[]`` keeps them); ``/status`` writes always keep the stored ones.
- More than 10 Update managers: the oldest are merged into ``ancient-changes``.

Not done: server-side apply (``Apply`` entries, conflicts), validation of sent managedFields.
"""

from __future__ import annotations

import datetime
import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

__all__ = ["MAX_MANAGER_LENGTH", "compare", "decode_fields", "encode_fields", "manager_name",
           "manager_problem", "track"]

Path = tuple[str, ...]  #: encoded path elements: ``f:name``, ``k:{"uid":"…"}``, ``v:"…"``
Identity = tuple[str, str, str, str]  #: manager, operation, apiVersion, subresource

MAX_MANAGER_LENGTH = 128
MAX_UPDATE_MANAGERS = 10
ANCIENT = "ancient-changes"
_MISSING: Any = object()
#: What the server never attributes to a manager (stripped before comparing).
_SERVER_META = frozenset({
    "name", "namespace", "uid", "creationTimestamp", "selfLink", "generation", "managedFields",
    "resourceVersion", "deletionTimestamp", "deletionGracePeriodSeconds",
})
METADATA_SCHEMA: Mapping[str, Any] = {"type": "object", "properties": {
    "finalizers": {"type": "array", "x-kubernetes-list-type": "set"},
    "ownerReferences": {"type": "array", "x-kubernetes-list-type": "map",
                        "x-kubernetes-list-map-keys": ["uid"]},
}}


# --- who is writing ---------------------------------------------------------------------------


def manager_name(field_manager: str | None, user_agent: str) -> str:
    """``fieldManager`` if given, else the User-Agent's prefix, like ``prefixFromUserAgent``."""
    if field_manager:
        return field_manager
    prefix, size = "", 0
    for char in user_agent.split("/")[0]:
        if not char.isprintable():
            continue
        size += len(char.encode())
        if size > MAX_MANAGER_LENGTH:
            break
        prefix += char
    return prefix


def manager_problem(field_manager: str | None) -> str | None:
    """Why the server would refuse this ``fieldManager`` (422), or None."""
    if field_manager is None:
        return None
    if len(field_manager) > MAX_MANAGER_LENGTH:
        return f"fieldManager: Too long: may not be more than {MAX_MANAGER_LENGTH} bytes"
    if any(not char.isprintable() for char in field_manager):
        return f"fieldManager: Invalid value: {field_manager!r}: must be printable"
    return None


# --- comparing two objects --------------------------------------------------------------------


@dataclass
class Comparison:
    added: set[Path] = field(default_factory=set)
    modified: set[Path] = field(default_factory=set)
    removed: set[Path] = field(default_factory=set)


def _stripped(obj: Mapping[str, Any] | None) -> dict[str, Any]:
    if not obj:
        return {}
    result = {key: value for key, value in obj.items() if key not in {"apiVersion", "kind"}}
    meta = result.get("metadata")
    if isinstance(meta, Mapping):
        result["metadata"] = {k: v for k, v in meta.items() if k not in _SERVER_META}
    return result


def compare(old: Mapping[str, Any] | None, new: Mapping[str, Any],
            schema: Mapping[str, Any] | None = None) -> Comparison:
    """What changed between two whole objects, as structured-merge-diff's ``Compare`` says."""
    result = Comparison()
    root = {**(schema or {}), "properties": {**((schema or {}).get("properties") or {}),
                                             "metadata": METADATA_SCHEMA}}
    _walk((), _stripped(old), _stripped(new), root, result)
    for paths in (result.added, result.removed, result.modified):
        paths.discard(("f:metadata",))
    return result


def _child_schema(schema: Mapping[str, Any], key: str) -> Mapping[str, Any]:
    properties = schema.get("properties")
    if isinstance(properties, Mapping) and isinstance(properties.get(key), Mapping):
        child: Mapping[str, Any] = properties[key]
        return child
    additional = schema.get("additionalProperties")
    return additional if isinstance(additional, Mapping) else {}


def _list_items(value: Any, schema: Mapping[str, Any]) -> dict[str, Any]:
    """A set or map list's items by their path element (later duplicates are ignored)."""
    items: dict[str, Any] = {}
    keys = list(schema.get("x-kubernetes-list-map-keys") or ())
    for item in value if isinstance(value, list) else ():
        if schema.get("x-kubernetes-list-type") == "set":
            element = "v:" + json.dumps(item, separators=(",", ":"), sort_keys=True)
        elif isinstance(item, Mapping):
            fields = {key: item.get(key) for key in keys if key in item}
            element = "k:" + json.dumps(fields, separators=(",", ":"), sort_keys=True)
        else:
            continue
        items.setdefault(element, item)
    return items


def _walk(path: Path, lhs: Any, rhs: Any, schema: Mapping[str, Any], out: Comparison) -> None:
    present = [value for value in (lhs, rhs) if value is not _MISSING]
    granular_map = all(isinstance(value, Mapping) for value in present) and (
        schema.get("x-kubernetes-map-type") != "atomic")
    associative = all(isinstance(value, list) for value in present) and (
        schema.get("x-kubernetes-list-type") in {"set", "map"})
    if (granular_map or associative) and any(present):
        if granular_map:
            left = {} if lhs is _MISSING else {f"f:{key}": value for key, value in lhs.items()}
            right = {} if rhs is _MISSING else {f"f:{key}": value for key, value in rhs.items()}
            schemas = {element: _child_schema(schema, element[2:]) for element in {*left, *right}}
        else:
            left = _list_items(lhs if lhs is not _MISSING else [], schema)
            right = _list_items(rhs if rhs is not _MISSING else [], schema)
            items = schema.get("items")
            item_schema: Mapping[str, Any] = items if isinstance(items, Mapping) else {}
            schemas = {element: item_schema for element in {*left, *right}}
        for element in [*left, *(key for key in right if key not in left)]:
            child = (*path, element)
            _walk(child, left.get(element, _MISSING), right.get(element, _MISSING),
                  schemas[element], out)
            if element not in left:
                out.added.add(child)
            elif element not in right:
                out.removed.add(child)
        return
    if lhs is _MISSING:
        out.added.add(path)
    elif rhs is _MISSING:
        out.removed.add(path)
    elif lhs != rhs:
        out.modified.add(path)


# --- fieldsV1 ---------------------------------------------------------------------------------


def decode_fields(tree: Mapping[str, Any], prefix: Path = ()) -> set[Path]:
    paths: set[Path] = set()
    for key, child in tree.items():
        if key == ".":
            paths.add(prefix)
        elif isinstance(child, Mapping) and child:
            paths |= decode_fields(child, (*prefix, key))
        else:
            paths.add((*prefix, key))
    return paths


def _element_order(element: str) -> tuple[int, str]:
    return "fkvi".find(element[:1]), element


def encode_fields(paths: Iterable[Path]) -> dict[str, Any]:
    """A set of paths as a ``fieldsV1`` tree (``.`` marks a node that is itself owned)."""
    tree: dict[str, Any] = {}
    for path in paths:
        node = tree
        for element in path:
            node = node.setdefault(element, {})
        node["."] = {}

    def render(node: dict[str, Any]) -> dict[str, Any]:
        children = sorted((key for key in node if key != "."), key=_element_order)
        rendered = {key: render(node[key]) for key in children}
        return {".": {}, **rendered} if "." in node and rendered else rendered

    return render(tree)


# --- entries ----------------------------------------------------------------------------------


@dataclass
class _Entry:
    fields: set[Path]
    time: str
    api_version: str


def _timestamp(value: Any) -> str:
    try:
        parsed = datetime.datetime.fromisoformat(str(value).replace("Z", "+00:00"))
    except ValueError:
        return ""
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=datetime.UTC)
    return parsed.astimezone(datetime.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _decode(entries: Any) -> dict[Identity, _Entry] | None:
    """Stored or sent managedFields; None if they cannot be read (the server then uses the live
    ones)."""
    if not isinstance(entries, list) or not all(isinstance(entry, Mapping) for entry in entries):
        return None
    managed: dict[Identity, _Entry] = {}
    for entry in entries:
        operation = str(entry.get("operation") or "")
        api_version = str(entry.get("apiVersion") or "")
        tree = entry.get("fieldsV1") or {}
        if operation not in {"Apply", "Update"} or not isinstance(tree, Mapping):
            return None
        manager, subresource = str(entry.get("manager") or ""), str(entry.get("subresource") or "")
        identity = (manager, operation, "" if operation == "Apply" else api_version, subresource)
        if identity in managed:
            return None
        managed[identity] = _Entry(decode_fields(tree), _timestamp(entry.get("time")), api_version)
    return managed


def _encode(managed: Mapping[Identity, _Entry]) -> list[dict[str, Any]]:
    def order(item: tuple[Identity, _Entry]) -> tuple[str, str, str, str, str]:
        (manager, operation, _, subresource), entry = item
        return operation, entry.time, manager, entry.api_version, subresource

    encoded = []
    for (manager, operation, _, subresource), entry in sorted(managed.items(), key=order):
        rendered: dict[str, Any] = {"manager": manager, "operation": operation,
                                    "apiVersion": entry.api_version, "time": entry.time,
                                    "fieldsType": "FieldsV1",
                                    "fieldsV1": encode_fields(entry.fields)}
        if subresource:
            rendered["subresource"] = subresource
        encoded.append({key: value for key, value in rendered.items() if value != ""})
    return encoded


def _cap(managed: dict[Identity, _Entry]) -> None:
    updaters = sorted(
        (identity for identity in managed if identity[1] == "Update" and identity[0] != ANCIENT),
        key=lambda identity: (managed[identity].time, identity[0]),
    )
    while len([identity for identity in managed if identity[1] == "Update"]) > MAX_UPDATE_MANAGERS:
        oldest = managed.pop(updaters.pop(0))
        bucket = (ANCIENT, "Update", oldest.api_version, "")
        previous = managed.get(bucket)
        fields = oldest.fields | (previous.fields if previous else set())
        managed[bucket] = _Entry(fields, oldest.time, oldest.api_version)


def track(
    old: Mapping[str, Any] | None, new: Mapping[str, Any], *, manager: str, api_version: str,
    subresource: str | None, time: str, schema: Mapping[str, Any] | None = None,
) -> list[dict[str, Any]]:
    """The managedFields ``new`` gets when ``manager`` writes it over ``old`` (None: a create).

    ``new`` carries what the request sent in ``metadata.managedFields`` (for ``/status`` writes
    the stored ones); ``old`` the stored ones.
    """
    live = _decode((old or {}).get("metadata", {}).get("managedFields") or []) or {}
    sent = new.get("metadata", {}).get("managedFields")
    managed = live
    if subresource is None and sent == [{}]:
        managed = {}
    elif subresource is None and sent:
        managed = _decode(sent) or live
    diff = compare(old, new, schema)
    changed = diff.added | diff.modified
    for entry in managed.values():
        entry.fields -= changed | diff.removed
    identity = (manager, "Update", api_version, subresource or "")
    if changed - diff.removed:
        mine = managed.get(identity)
        managed[identity] = _Entry((mine.fields if mine else set()) | (changed - diff.removed),
                                   time, api_version)
    managed = {key: entry for key, entry in managed.items() if entry.fields}
    _cap(managed)
    return _encode(managed)
