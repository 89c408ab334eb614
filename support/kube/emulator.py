"""A Kubernetes API server for tests: KMock's emulator with the API server's write rules.

``kmock.KubernetesEmulator`` stores objects and serves discovery, list, watch, get, create,
merge-patch and delete, but treats every write as a dict merge: no resourceVersion, no
conflicts, no PUT, no status subresource, and it cannot parse ``/api/v1/namespaces``.
:class:`KubeEmulator` keeps KMock's plumbing — the aiohttp server, request recording, the
reaction DSL (a test's own reaction, e.g. ``emulator["post /api/v1/namespaces/ns/secrets"] <<
kmock.KubernetesError(...)``, still wins over the emulated API and then changes nothing),
discovery from ``emulator.resources``, and the ``emulator.objects`` store with its history and
pattern views — and serves objects by the rules in :class:`~.store.Store`:

- ``metadata.resourceVersion`` from one cluster-wide counter, bumped on every write that
  changes the object (metadata, data, spec or status), each producing one watch event with the
  whole object; a write that changes nothing gets no new resourceVersion and no event.
  ``uid``, ``creationTimestamp``; ``generation`` for custom resources, bumped when anything but
  metadata/status changes and on deletion.
- ``metadata.managedFields`` on every object, one entry per field manager (``?fieldManager=``,
  else the User-Agent's prefix: ``OpenAPI-Generator``, ``kopf``), operation and subresource,
  kept as the API server keeps them for Update operations (:mod:`.managedfields`). Writes made
  without HTTP are ``kubectl-create`` (``seed``) and ``kubectl-patch`` (``patch_object``).
- 409 ``Conflict`` for a PUT, merge patch or DeleteOptions precondition with a stale
  resourceVersion (or another uid); 409 ``AlreadyExists`` on create; 404 ``NotFound``;
  422 for a failed JSON-patch ``test`` (what the real API server answers; kopf relies on it).
  Every error is a ``Status`` object.
- The status subresource: the main resource ignores ``status``, ``/status`` ignores the rest.
- Finalizers: DELETE sets ``deletionTimestamp``; the write that removes the last finalizer
  deletes the object; no new finalizers on an object being deleted; DeleteOptions
  preconditions. DELETE of a Namespace leaves it Terminating (creates inside it get 403 "being
  terminated") until a test calls ``finish_namespace_termination``.
- Namespaced creates need an existing namespace (404 otherwise), as on a real cluster.
- Secrets: ``stringData`` folds into ``data``; base64 and key names are checked; ``type`` and
  ``immutable`` data cannot change.
- CRDs: unknown fields are pruned and schema ``default``s applied (structural schemas).
- Lists and watches honour label/field selectors; watches resume from ``resourceVersion`` (or
  start with ADDED for what exists), honour ``timeoutSeconds`` and ``sendInitialEvents``, and
  see objects enter (ADDED) and leave (DELETED) their selection like the watch cache sends
  them (:mod:`.watches`).
- TokenRequest (``serviceaccounts/NAME/token``) returns an RS256 JWT (:mod:`.tokens`); its keys
  are served at ``/openid/v1/jwks`` and the discovery document at
  ``/.well-known/openid-configuration``, unauthenticated, as the API server serves them.
- Every request is logged as an :class:`~.apimachinery.ApiCall` (verb, group, resource,
  subresource, namespaced?) in :attr:`KubeEmulator.calls`, to derive RBAC from.

Gaps (tests must not lean on them): no garbage collection by owner reference; no schema
validation (types, patterns, enums, CEL) and no admission; no authentication or RBAC; strategic
merge patch is applied as a JSON merge patch (lists replaced, not merged by key); no
server-side apply, dryRun or pagination; no 410 Gone (history is never compacted); one store
per CRD version (no conversion); no periodic watch bookmarks; no server-side apply (so no
``Apply`` managedFields entries); built-in types' associative lists other than finalizers and
ownerReferences are tracked as atomic in managedFields.
"""

from __future__ import annotations

import copy
import json
from collections.abc import AsyncIterator, Iterable, Mapping
from typing import Any

import aiohttp.web
import attrs
import kmock
from kmock._internal import parsing, rendering

from . import apimachinery as am
from . import managedfields
from .store import ALL_VERBS, SEED_MANAGER, ObjectKey, Store, declare
from .tokens import DISCOVERY_PATH, JWKS_PATH, TokenSigner
from .watches import Watches, matcher

__all__ = ["KubeEmulator"]

class _ServeFromStore(Exception):
    """Raised by the lowest-priority reaction: no test reaction claimed the request."""


@attrs.define(kw_only=True)
class KubeEmulator(kmock.KubernetesEmulator):
    """See the module docstring. Runs on one event loop; the store is not thread-safe."""

    signer: TokenSigner = attrs.field(factory=TokenSigner)
    require_namespaces: bool = True
    #: Every request, in arrival order (watches as soon as they start streaming).
    calls: list[am.ApiCall] = attrs.field(factory=list, init=False)
    store: Store = attrs.field(init=False)
    watches: Watches = attrs.field(init=False)
    _logged: set[int] = attrs.field(factory=set, init=False)

    def __attrs_post_init__(self) -> None:
        # Discovery and the catch-all 404 from the scaffold; not kmock's merge-only write path.
        kmock.KubernetesScaffold.__attrs_post_init__(self)
        self.fallback[self._is_resource_request] << _ServeFromStore
        self.store = Store(
            objects=self._objects, resources=self.resources, signer=self.signer,
            require_namespaces=self.require_namespaces,
        )
        self.watches = Watches(self.store)
        self.store.listeners.add(self.watches.publish)

    # --- for fixtures and tests (on the server's loop, or before it serves) ---------------

    def declare(self, resource: str, *, kind: str, namespaced: bool,
                subresources: Iterable[str] = (), verbs: Iterable[str] = ALL_VERBS) -> None:
        declare(self.resources, resource, kind=kind, namespaced=namespaced,
                subresources=subresources, verbs=verbs)

    def declare_crd(self, crd: Mapping[str, Any]) -> list[kmock.resource]:
        """Serve a CustomResourceDefinition's versions (and store the CRD object itself)."""
        return self.store.declare_crd(crd)

    def seed(self, body: Mapping[str, Any], *, manager: str = SEED_MANAGER) -> dict[str, Any]:
        """Create an object by the API rules, without HTTP and without a request log entry."""
        return copy.deepcopy(self.store.seed(body, manager=manager))

    def patch_object(self, resource: str, namespace: str | None, name: str,
                     patch: Mapping[str, Any], *, manager: str = "kubectl-patch",
                     subresource: str | None = None) -> dict[str, Any]:
        """Merge-patch a stored object by the API rules, without HTTP (e.g. "someone else")."""
        key = (kmock.resource(resource), namespace, name)
        media = "application/merge-patch+json"
        return copy.deepcopy(self.store.patch(
            key, patch, content_type=media, subresource=subresource, manager=manager))

    def delete_object(self, resource: str, namespace: str | None, name: str) -> None:
        """Delete a stored object by the API rules (finalizers apply), without HTTP."""
        self.store.delete((kmock.resource(resource), namespace, name), None)

    def read(self, resource: str, namespace: str | None, name: str) -> dict[str, Any] | None:
        return copy.deepcopy(self.store.current((kmock.resource(resource), namespace, name)))

    def versions(
        self, resource: str, namespace: str | None, name: str
    ) -> list[dict[str, Any] | None]:
        """Every version stored, oldest first; ``None`` marks a deletion."""
        key = (kmock.resource(resource), namespace, name)
        history = self._objects[key].history if key in self._objects else []
        return [None if version is None else copy.deepcopy(version.raw) for version in history]

    def select(self, resource: str, namespace: str | None = None) -> list[dict[str, Any]]:
        return copy.deepcopy(self.store.select(kmock.resource(resource), namespace, lambda _: True))

    def finish_namespace_termination(self, name: str) -> bool:
        return self.store.finish_namespace_termination(name)

    def close_watches(self) -> None:
        self.watches.close()

    # --- HTTP -----------------------------------------------------------------------------

    async def __call__(self, raw_request: aiohttp.web.BaseRequest) -> aiohttp.web.StreamResponse:
        # As RawHandler.__call__, but with a path parser that knows Namespaces, Status errors
        # for the API's refusals, and an ApiCall for every request.
        request = self._parse(raw_request, await raw_request.read())
        self._requests.append(request)
        response: aiohttp.web.StreamResponse
        try:
            response = await self._handle(request)
        except kmock.KubernetesError as error:
            response = await self._render_error(error)
        except rendering.StreamingError as error:  # a test's stream failed after the headers
            response = error.args[0]
            cause = error.__cause__ if isinstance(error.__cause__, Exception) else error
            self._record_error(cause)
            await self._stream_error(cause, response)
            await response.write_eof()
        except Exception as error:  # an emulator bug: answer 500 and fail the test at teardown
            self._record_error(error)
            response = await self._render_error(error)
        if request.id not in self._logged:
            self._log(request, response.status)
        self._logged.discard(request.id)
        return response

    async def _handle(self, request: kmock.Request) -> aiohttp.web.StreamResponse:
        # Not KubernetesEmulator._handle: it merges every write into the store before dispatch.
        # Test reactions come first; the lowest-priority one raises _ServeFromStore.
        oidc = self._oidc_document(request)
        if oidc is not None:
            return aiohttp.web.json_response(oidc)
        try:
            return await kmock.RawHandler._handle(self, request)
        except _ServeFromStore:
            pass
        return await self._respond_from_store(request)

    async def _respond_from_store(self, request: kmock.Request) -> aiohttp.web.StreamResponse:
        """Answer from the store: a JSON object, or a watch streamed line by line."""
        result = self._serve(request)
        if isinstance(result, tuple):
            return aiohttp.web.json_response(result[1], status=result[0])
        assert request._raw_request is not None
        response = aiohttp.web.StreamResponse(status=200)
        response.content_type = "application/json"
        try:
            await response.prepare(request._raw_request)
            self._log(request, response.status)  # now, not when the watch ends
            async for event in result:
                await response.write(json.dumps(event).encode() + b"\n")
            await response.write_eof()
        except ConnectionError:
            pass  # the client went away
        return response

    async def _render_error(self, exc: Exception) -> aiohttp.web.StreamResponse:
        if not isinstance(exc, kmock.KubernetesError):
            return await super()._render_error(exc)
        return aiohttp.web.json_response({
            "apiVersion": "v1", "kind": "Status", "metadata": {}, "status": "Failure",
            "code": exc.status, "reason": exc.reason or "", "message": exc.message or "",
            "details": exc.details or {},
        }, status=exc.status)

    def _record_error(self, error: Exception) -> None:
        if self._errors:
            self._errors[-1].append(error)

    def _parse(self, raw: aiohttp.web.BaseRequest, body: bytes) -> kmock.Request:
        path = am.parse_api_path(raw.path)
        params = dict(raw.query)
        try:
            data = json.loads(body) if body else None
        except ValueError:
            data = None
        resource = None if path.group is None else kmock.resource(
            group=path.group, version=path.version, plural=path.plural)
        return kmock.Request(
            id=len(self._requests), raw_request=raw, url=raw.url, method=raw.method,
            params=params, headers=dict(raw.headers), cookies=dict(raw.cookies), data=data,
            body=body, text=body.decode("utf-8", errors="replace"),
            action=parsing.guess_k8s(path, kmock.method(raw.method), params),
            resource=resource, namespace=path.namespace, name=path.name,
            subresource=path.subresource,
        )

    def _log(self, request: kmock.Request, status: int) -> None:
        self._logged.add(request.id)
        resource = request.resource if self._is_resource_request(request) else None
        method = request.method.value
        self.calls.append(am.ApiCall(
            verb=am.verb_of(method, name=request.name, params=request.params)
            if resource is not None else method.lower(),
            group=resource.group if resource else None,
            version=resource.version if resource else None,
            resource=resource.plural if resource else None,
            subresource=request.subresource if resource else None,
            namespace=request.namespace,
            name=request.name,
            namespaced=request.namespace is not None,
            method=method,
            path=request.url.path,
            status=status,
            label_selector=request.params.get("labelSelector"),
        ))

    def _oidc_document(self, request: kmock.Request) -> dict[str, Any] | None:
        """The service-account issuer's discovery document or keys, for a GET of their path."""
        if request.method.value != "GET":
            return None
        if request.url.path == DISCOVERY_PATH:
            return self.signer.openid_configuration()
        if request.url.path == JWKS_PATH:
            return self.signer.jwks()
        return None

    @staticmethod
    def _is_resource_request(request: kmock.Request) -> bool:
        return request.resource is not None and request.resource.plural is not None

    # --- the object API -------------------------------------------------------------------

    def _serve(self, request: kmock.Request) -> tuple[int, Any] | AsyncIterator[dict[str, Any]]:
        resource = request.resource
        assert resource is not None
        if resource not in self.resources:
            raise kmock.KubernetesError(
                status=404, reason="NotFound", details={},
                message="the server could not find the requested resource",
            )
        info = self.resources[resource]
        verb = am.verb_of(request.method.value, name=request.name, params=request.params)
        namespace, name, sub = request.namespace, request.name, request.subresource
        if (namespace is not None and not info.namespaced) or (
            info.namespaced and name is not None and namespace is None
        ):
            raise am.not_found(str(resource.plural), str(resource.group), name or "")
        if verb not in info.verbs or (info.namespaced and namespace is None and verb == "create"):
            raise _method_not_allowed()
        if sub is not None and (sub not in info.subresources or sub not in {"status", "token"}):
            raise am.not_found(f"{resource.plural}/{sub}", str(resource.group), name or "")
        if sub == "token" and verb != "create":
            raise _method_not_allowed()

        store = self.store
        key: ObjectKey = (resource, namespace, name or "")
        manager = _manager(request) if verb in {"create", "update", "patch"} else ""
        match verb, sub:
            case "create", "token":
                return 201, store.token_request(key, request.data)
            case "create", None:
                return 201, store.create(resource, namespace, request.data, manager=manager)
            case "list", None:
                return 200, store.list_objects(
                    resource, namespace, matcher(request.params),
                    limit=int(request.params.get("limit") or 0),
                    token=request.params.get("continue") or "",
                )
            case "watch", None:
                return self.watches.open(resource, namespace, name, request.params)
            case "get", _:
                return 200, store.stored(key)
            case "update", _:
                return 200, store.update(key, request.data, subresource=sub, manager=manager)
            case "patch", _:
                media = request.headers.get("Content-Type", "")
                return 200, store.patch(key, request.data, content_type=media, subresource=sub,
                                        manager=manager)
            case "delete", None:
                return 200, store.delete(key, request.data)
            case "deletecollection", None:
                return 200, store.delete_collection(resource, namespace, matcher(request.params))
        raise _method_not_allowed()


def _manager(request: kmock.Request) -> str:
    """The write's field manager: ``?fieldManager=``, else the User-Agent's prefix."""
    field_manager = request.params.get("fieldManager")
    if problem := managedfields.manager_problem(field_manager):
        options = {"POST": "CreateOptions", "PUT": "UpdateOptions"}.get(
            request.method.value, "PatchOptions")
        raise am.invalid(options, "meta.k8s.io", "", [problem])
    agent = next((value for key, value in request.headers.items()
                  if key.lower() == "user-agent"), "")
    return managedfields.manager_name(field_manager, agent)


def _method_not_allowed() -> kmock.KubernetesError:
    return kmock.KubernetesError(
        status=405, reason="MethodNotAllowed", details={},
        message="the server does not allow this method on the requested resource",
    )
