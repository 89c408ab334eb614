"""The API server's rules over an in-memory object store: what writes do and what reads see.

Synchronous, no I/O: :class:`~.emulator.KubeEmulator` calls it from its event loop, one
request at a time, so every method is atomic. Objects live in KMock's ``ObjectsArray`` (shared
with ``emulator.objects``), so tests keep KMock's history and pattern-matching views. Every
create and update records its writer in ``metadata.managedFields`` (:mod:`.managedfields`);
listeners (the open watches, :mod:`.watches`) hear of every change with the object before it.
"""

from __future__ import annotations

import base64
import copy
import datetime
import random
import string
import uuid
from collections.abc import Callable, Iterable, Mapping
from typing import Any

import attrs
import kmock

from . import apimachinery as am
from . import managedfields
from .tokens import TokenSigner

__all__ = ["ALL_VERBS", "NAMESPACES", "SEED_MANAGER", "Listener", "Matcher", "ObjectKey", "Store"]

ObjectKey = tuple[kmock.resource, str | None, str]
Matcher = Callable[[Mapping[str, Any]], bool]
#: Told of every change: the resource, the watch event, and the object as it was before (if any).
Listener = Callable[[kmock.resource, dict[str, Any], dict[str, Any] | None], None]

ALL_VERBS = frozenset(
    {"create", "delete", "deletecollection", "get", "list", "patch", "update", "watch"}
)
NAMESPACES = kmock.resource("", "v1", "namespaces")
SECRETS = kmock.resource("", "v1", "secrets")
CRDS = kmock.resource("apiextensions.k8s.io", "v1", "customresourcedefinitions")
#: The field manager of writes made without HTTP (a user's ``kubectl create``).
SEED_MANAGER = "kubectl-create"
#: Metadata the server keeps from the stored object on every update.
_SERVER_METADATA = (
    "name", "namespace", "uid", "creationTimestamp", "deletionTimestamp",
    "deletionGracePeriodSeconds", "generation",
)


def now() -> str:
    return datetime.datetime.now(datetime.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def api_version(resource: kmock.resource) -> str:
    return f"{resource.group}/{resource.version}" if resource.group else str(resource.version)


def _spec_part(obj: Mapping[str, Any]) -> dict[str, Any]:
    return {key: value for key, value in obj.items() if key not in {"metadata", "status"}}


def _without_resource_version(obj: Mapping[str, Any]) -> str:
    meta = {k: v for k, v in obj.get("metadata", {}).items() if k != "resourceVersion"}
    return am.canonical({**obj, "metadata": meta})


def _sort_key(obj: Mapping[str, Any]) -> tuple[str, str]:
    return obj["metadata"].get("namespace", ""), obj["metadata"]["name"]


def _names(resource: kmock.resource, name: str) -> tuple[str, str, str]:
    return str(resource.plural), str(resource.group), name


@attrs.define(kw_only=True)
class Store:
    objects: kmock.ObjectsArray
    resources: kmock.ResourcesArray
    signer: TokenSigner
    #: Refuse namespaced creates in namespaces that do not exist, like a real cluster.
    require_namespaces: bool = True
    custom: dict[kmock.resource, am.CustomResource] = attrs.field(factory=dict)
    revision: int = 0
    #: Every change since :attr:`compacted` and the object before it, for watches that resume
    #: from a resourceVersion.
    event_log: list[tuple[int, kmock.resource, dict[str, Any], dict[str, Any] | None]] = (
        attrs.field(factory=list))
    #: Watches resumed from an older resourceVersion are refused with 410 Expired, as etcd's
    #: compaction (every 5 minutes on a real server) makes them.
    compacted: int = 0
    listeners: set[Listener] = attrs.field(factory=set)
    #: uids of objects that were deleted: what is written later naming only these as owners is
    #: collected at once, as the garbage collector does within a second.
    gone_uids: set[str] = attrs.field(factory=set)

    # --- declarations ---------------------------------------------------------------------

    def declare_crd(self, crd: Mapping[str, Any]) -> list[kmock.resource]:
        declared = []
        for custom in am.parse_crd(crd):
            resource = kmock.resource(custom.group, custom.version, custom.plural)
            self.resources[resource] = kmock.ResourceInfo(
                kind=custom.kind, singular=custom.singular, namespaced=custom.namespaced,
                verbs=set(ALL_VERBS), shortnames=set(custom.shortnames),
                categories=set(custom.categories), subresources=set(custom.subresources),
            )
            self.custom[resource] = custom
            declared.append(resource)
        if CRDS in self.resources and self.current((CRDS, None, crd["metadata"]["name"])) is None:
            stored = self.seed(crd)
            stored["status"] = {
                "acceptedNames": crd["spec"]["names"],
                "storedVersions": [v["name"] for v in crd["spec"]["versions"] if v.get("storage")],
                "conditions": [
                    {"type": "Established", "status": "True", "reason": "InitialNamesAccepted"},
                    {"type": "NamesAccepted", "status": "True", "reason": "NoConflicts"},
                ],
            }
        return declared

    def seed(self, body: Mapping[str, Any], *, manager: str = SEED_MANAGER) -> dict[str, Any]:
        """Create an object by the API rules, without HTTP."""
        group, _, version = body["apiVersion"].rpartition("/")
        for resource in self.resources:
            info = self.resources[resource]
            if (resource.group, resource.version, info.kind) == (group, version, body["kind"]):
                namespace = body.get("metadata", {}).get("namespace") if info.namespaced else None
                return self.create(resource, namespace, body, manager=manager)
        raise LookupError(f"no declared resource serves {body['apiVersion']} {body['kind']}")

    # --- reads ----------------------------------------------------------------------------

    def current(self, key: ObjectKey) -> dict[str, Any] | None:
        if key not in self.objects or self.objects[key].deleted:
            return None
        return self.objects[key].raw

    def stored(self, key: ObjectKey) -> dict[str, Any]:
        current = self.current(key)
        if current is None:
            raise am.not_found(*_names(key[0], key[2]))
        return current

    def select(
        self, resource: kmock.resource, namespace: str | None, matches: Matcher
    ) -> list[dict[str, Any]]:
        found = [
            obj.raw
            for (res, ns, _), obj in self.objects.items()
            if res == resource and not obj.deleted and namespace in (None, ns) and matches(obj.raw)
        ]
        return sorted(found, key=_sort_key)

    def compact(self) -> None:
        """Forget the change history up to now, as etcd's compaction does."""
        self.compacted = self.revision
        self.event_log.clear()

    def list_objects(
        self, resource: kmock.resource, namespace: str | None, matches: Matcher,
        *, limit: int = 0, token: str = "",
    ) -> dict[str, Any]:
        """A LIST, a page of ``limit`` at a time when asked, as a real server pages it: every
        page carries the first page's resourceVersion, and ``continue`` names where the next
        starts (the emulator serves later pages from live data, not a snapshot)."""
        items = self.select(resource, namespace, matches)
        version, after = str(self.revision), None
        if token:
            version, _, key = base64.urlsafe_b64decode(token).decode().partition("/")
            after = tuple(key.split("/", 1))
            items = [item for item in items if _sort_key(item) > after]
        metadata: dict[str, Any] = {"resourceVersion": version}
        if limit and len(items) > limit:
            items = items[:limit]
            last = "/".join(_sort_key(items[-1]))
            metadata["continue"] = base64.urlsafe_b64encode(f"{version}/{last}".encode()).decode()
        return {
            "apiVersion": api_version(resource),
            "kind": f"{self.resources[resource].kind}List",
            "metadata": metadata,
            "items": items,
        }

    # --- writes ---------------------------------------------------------------------------

    def _commit(self, key: ObjectKey, obj: dict[str, Any], event: str,
                before: dict[str, Any] | None = None) -> dict[str, Any]:
        self.revision += 1
        obj["metadata"]["resourceVersion"] = str(self.revision)
        if event == "ADDED" and key in self.objects:
            self.objects[key].create(obj)
        elif event == "ADDED":
            self.objects[key] = obj
        else:
            self.objects[key].history.append(obj)
        self._publish(key[0], event, obj, before)
        owners = {ref.get("uid") for ref in obj["metadata"].get("ownerReferences") or []}
        if owners and owners <= self.gone_uids:  # written for an owner already deleted
            self._remove(key, obj)
        return obj

    def _remove(self, key: ObjectKey, obj: Mapping[str, Any]) -> dict[str, Any]:
        final = copy.deepcopy(dict(obj))
        before = self.current(key)
        self.revision += 1
        final["metadata"]["resourceVersion"] = str(self.revision)
        self.objects[key].delete()
        self._publish(key[0], "DELETED", final, before)
        if uid := final["metadata"].get("uid"):
            self.gone_uids.add(uid)
        self._collect_dependents(key[1], final["metadata"].get("uid"))
        return final

    def _collect_dependents(self, namespace: str | None, owner_uid: str | None) -> None:
        """Play the garbage collector: delete what the removed object owned, once unowned."""
        if namespace is None or owner_uid is None:
            return
        present = [(key, obj) for key in list(self.objects)
                   if (obj := self.current(key)) is not None]
        alive = {obj["metadata"].get("uid") for _, obj in present}
        for key, obj in present:
            if key[1] != namespace:
                continue
            owners = {ref.get("uid") for ref in obj["metadata"].get("ownerReferences") or []}
            if owner_uid in owners and not owners & alive:
                self.delete(key, None)

    def _publish(self, resource: kmock.resource, event_type: str, obj: dict[str, Any],
                 before: dict[str, Any] | None) -> None:
        event = {"type": event_type, "object": obj}
        self.event_log.append((self.revision, resource, event, before))
        for listener in list(self.listeners):
            listener(resource, event, before)

    def _track(self, resource: kmock.resource, old: Mapping[str, Any] | None,
               new: dict[str, Any], manager: str, subresource: str | None) -> None:
        """Set ``new``'s managedFields for ``manager`` writing it over ``old``."""
        custom = self.custom.get(resource)
        entries = managedfields.track(
            old, new, manager=manager, api_version=api_version(resource),
            subresource=subresource, time=now(), schema=custom.schema if custom else None,
        )
        new["metadata"].pop("managedFields", None)
        if entries:
            new["metadata"]["managedFields"] = entries

    def _check_namespace(self, resource: kmock.resource, namespace: str, name: str) -> None:
        if not self.require_namespaces:
            return
        ns = self.current((NAMESPACES, None, namespace))
        if ns is None:
            raise am.not_found("namespaces", "", namespace)
        if ns["metadata"].get("deletionTimestamp"):
            raise am.forbidden_terminating(*_names(resource, name), namespace)

    def create(self, resource: kmock.resource, namespace: str | None, body: Any, *,
               manager: str = SEED_MANAGER) -> dict[str, Any]:
        info = self.resources[resource]
        if not isinstance(body, Mapping) or not isinstance(body.get("metadata", {}), Mapping):
            raise am.bad_request("the body of the request must be a JSON object with metadata")
        obj = copy.deepcopy(dict(body))
        meta = obj.setdefault("metadata", {})
        if info.namespaced:
            if meta.get("namespace") not in (None, namespace):
                raise am.bad_request("the namespace of the provided object does not match the "
                                     "namespace sent on the request")
            meta["namespace"] = namespace
        else:
            meta.pop("namespace", None)
        if not meta.get("name") and meta.get("generateName"):
            suffix = "".join(random.choices(string.ascii_lowercase + string.digits, k=5))
            meta["name"] = meta["generateName"] + suffix
        name = meta.get("name")
        if not name:
            raise am.invalid(str(info.kind), str(resource.group), "",
                             ["metadata.name: Required value: name or generateName is required"])
        if obj.get("kind") not in (None, info.kind):
            raise am.bad_request(f"the kind in the body ({obj['kind']}) does not match {info.kind}")
        obj["apiVersion"], obj["kind"] = api_version(resource), info.kind
        if namespace is not None:
            self._check_namespace(resource, namespace, name)
        key: ObjectKey = (resource, namespace, name)
        if self.current(key) is not None:
            raise am.already_exists(*_names(resource, name))
        for field in ("resourceVersion", "deletionTimestamp", "deletionGracePeriodSeconds"):
            meta.pop(field, None)
        meta.update(uid=str(uuid.uuid4()), creationTimestamp=now())
        meta.pop("generation", None)
        if resource in self.custom:
            meta["generation"] = 1
        if "status" in info.subresources:
            obj.pop("status", None)
        self._normalize(resource, obj, old=None)
        self._track(resource, None, obj, manager, None)
        return self._commit(key, obj, "ADDED")

    def patch(
        self, key: ObjectKey, patch: Any, *, content_type: str, subresource: str | None,
        manager: str = SEED_MANAGER,
    ) -> dict[str, Any]:
        resource = key[0]
        patched = am.apply_patch(
            self.stored(key), patch, content_type=content_type, custom=resource in self.custom,
            kind=str(self.resources[resource].kind), name=key[2],
        )
        return self.update(key, patched, subresource=subresource, manager=manager)

    def update(self, key: ObjectKey, body: Any, *, subresource: str | None,
               manager: str = SEED_MANAGER) -> dict[str, Any]:
        """PUT semantics; patches arrive here as the patched whole object."""
        resource = key[0]
        info = self.resources[resource]
        old = self.stored(key)
        if not isinstance(body, Mapping):
            raise am.bad_request("the body of the request must be a JSON object")
        new = copy.deepcopy(dict(body))
        meta = new["metadata"] = dict(new.get("metadata") or {})
        old_meta = old["metadata"]
        plural, group, name = _names(resource, key[2])
        if meta.get("name") not in (None, name):
            raise am.bad_request(f"the name of the object ({meta['name']}) does not match the "
                                 f"name on the URL ({name})")
        if meta.get("resourceVersion") not in (None, "", old_meta["resourceVersion"]):
            raise am.conflict(plural, group, name)
        if meta.get("uid") not in (None, "", old_meta["uid"]):
            raise am.conflict(plural, group, name, f"Precondition failed: UID in precondition: "
                              f"{meta['uid']}, UID in object meta: {old_meta['uid']}")

        if subresource == "status":
            status = new.get("status")
            new = copy.deepcopy(old)
            new.pop("status", None)
            if status is not None:
                new["status"] = status
        else:
            if "status" in info.subresources:
                new.pop("status", None)
                if "status" in old:
                    new["status"] = copy.deepcopy(old["status"])
            for field in _SERVER_METADATA:
                meta.pop(field, None)
                if field in old_meta:
                    meta[field] = old_meta[field]
            added = set(meta.get("finalizers") or ()) - set(old_meta.get("finalizers") or ())
            if old_meta.get("deletionTimestamp") and added:
                raise am.invalid(str(info.kind), group, name, [
                    "metadata.finalizers: Forbidden: no new finalizers can be added if the "
                    f"object is being deleted, found new finalizers {sorted(added)!r}"
                ])
        new["apiVersion"], new["kind"] = old["apiVersion"], old["kind"]
        new["metadata"]["resourceVersion"] = old_meta["resourceVersion"]
        self._normalize(resource, new, old=old)
        if resource in self.custom and _spec_part(new) != _spec_part(old):
            new["metadata"]["generation"] = old_meta.get("generation", 0) + 1
        self._track(resource, old, new, manager, subresource)

        if _without_resource_version(new) == _without_resource_version(old):
            return old  # a no-op write: no new resourceVersion, no event
        if new["metadata"].get("deletionTimestamp") and not new["metadata"].get("finalizers"):
            return self._remove(key, new)
        return self._commit(key, new, "MODIFIED", old)

    def delete(self, key: ObjectKey, options: Any) -> dict[str, Any]:
        resource = key[0]
        old = self.stored(key)
        meta = old["metadata"]
        preconditions = options.get("preconditions") if isinstance(options, Mapping) else None
        for field, label in (("uid", "UID"), ("resourceVersion", "ResourceVersion")):
            wanted = (preconditions or {}).get(field)
            if wanted and wanted != meta.get(field):
                raise am.conflict(*_names(resource, key[2]), f"Precondition failed: {label} in "
                                  f"precondition: {wanted}, {label} in object meta: "
                                  f"{meta.get(field)}")
        if resource == NAMESPACES or meta.get("finalizers"):
            if meta.get("deletionTimestamp"):
                return old
            new = copy.deepcopy(old)
            new["metadata"].update(deletionTimestamp=now(), deletionGracePeriodSeconds=0)
            if resource == NAMESPACES:
                new["status"] = {**new.get("status", {}), "phase": "Terminating"}
            if resource in self.custom:
                new["metadata"]["generation"] = meta.get("generation", 0) + 1
            return self._commit(key, new, "MODIFIED", old)
        final = self._remove(key, old)
        return final if resource in self.custom else success(key[2], resource, meta.get("uid"))

    def delete_collection(
        self, resource: kmock.resource, namespace: str | None, matches: Matcher
    ) -> dict[str, Any]:
        for obj in self.select(resource, namespace, matches):
            self.delete((resource, obj["metadata"].get("namespace"), obj["metadata"]["name"]), None)
        return success(None, resource, None)

    def finish_namespace_termination(self, name: str) -> bool:
        """Play the namespace controller: delete what is inside; drop the namespace once empty."""
        inside: Callable[[], list[ObjectKey]] = lambda: [  # noqa: E731
            key for key, obj in self.objects.items() if key[1] == name and not obj.deleted
        ]
        for key in inside():
            self.delete(key, None)
        namespace_key = (NAMESPACES, None, name)
        if inside() or self.current(namespace_key) is None:
            return False
        self._remove(namespace_key, self.stored(namespace_key))
        return True

    def _normalize(
        self, resource: kmock.resource, obj: dict[str, Any], *, old: Mapping[str, Any] | None
    ) -> None:
        problems: list[str] = []
        if resource == SECRETS:
            problems += am.normalize_secret(obj, old)
        if resource == NAMESPACES and old is None:
            obj.setdefault("spec", {}).setdefault("finalizers", ["kubernetes"])
            obj["status"] = {"phase": "Active"}
            labels = obj["metadata"].setdefault("labels", {})
            labels["kubernetes.io/metadata.name"] = obj["metadata"]["name"]
        custom = self.custom.get(resource)
        if custom is not None and custom.schema is not None:
            pruned = am.normalize_by_schema(obj, custom.schema, root=True)
            obj.clear()
            obj.update(pruned)
        if problems:
            kind = str(self.resources[resource].kind)
            raise am.invalid(kind, str(resource.group), obj["metadata"]["name"], problems)

    # --- subresources ---------------------------------------------------------------------

    def token_request(self, key: ObjectKey, body: Any) -> dict[str, Any]:
        """``POST serviceaccounts/NAME/token``: a signed JWT for the ServiceAccount."""
        account = self.current(key)
        if account is None:
            raise am.not_found("serviceaccounts", "", key[2])
        return self.signer.token_request(str(key[1]), account, body)


def success(name: str | None, resource: kmock.resource, uid: str | None) -> dict[str, Any]:
    details = {"name": name, "group": resource.group, "kind": resource.plural, "uid": uid}
    return {
        "apiVersion": "v1", "kind": "Status", "metadata": {}, "status": "Success",
        "details": {key: value for key, value in details.items() if value},
    }


def declare(
    resources: kmock.ResourcesArray,
    resource: str | kmock.resource,
    *,
    kind: str,
    namespaced: bool,
    subresources: Iterable[str] = (),
    verbs: Iterable[str] = ALL_VERBS,
) -> kmock.resource:
    """Declare a resource the emulator should serve (discovery and the object API)."""
    parsed = kmock.resource(resource)
    resources[parsed] = kmock.ResourceInfo(
        kind=kind, namespaced=namespaced, singular=kind.lower(), verbs=set(verbs),
        subresources=set(subresources),
    )
    return parsed
