"""kopf handlers: thin wiring from cluster events to the reconciler and status writers.

Each binding gets one async daemon that sleeps until its token is due (or it is woken by a
change to its spec, its identity or its Secret). Identities and bindings are indexed in
memory so a refresh never lists the cluster.
"""

from __future__ import annotations

import logging
from typing import Any

import kopf

from ..errors import ConfigurationError, SecretConflict
from ..secretdata import CHECKSUM_ANNOTATION, MANAGED_BY_LABEL, SecretTarget, data_checksum
from .identities import identity_readiness
from .plans import HANDLED_REFRESH_FIELD, REFRESH_ANNOTATION
from .reconciler import BindingReconciler
from .resources import BINDING_KIND, BINDINGS, GROUP, IDENTITIES, VERSION
from .runtime import Runtime, build_runtime
from .settings import OperatorSettings
from .specs import parse_binding

__all__ = ["registry"]

IDENTITY_RESOURCE = (GROUP, VERSION, IDENTITIES)
BINDING_RESOURCE = (GROUP, VERSION, BINDINGS)

registry = kopf.OperatorRegistry()
log = logging.getLogger(__name__)

IdentityIndex = kopf.Index[str, dict[str, Any]]
BindingIndex = kopf.Index[str, tuple[str, str]]


def _runtime(memo: kopf.Memo) -> Runtime:
    runtime: Runtime = memo.runtime
    return runtime


@kopf.on.login(registry=registry)
def login(**kwargs: Any) -> kopf.ConnectionInfo | None:
    """The pod's service account in a cluster, else the kubeconfig (``$KUBECONFIG``)."""
    return kopf.login_with_service_account(**kwargs) or kopf.login_with_kubeconfig(**kwargs)


@kopf.on.startup(registry=registry)
async def configure(settings: kopf.OperatorSettings, memo: kopf.Memo, **_: Any) -> None:
    operator_settings: OperatorSettings = memo.get("settings") or OperatorSettings()
    settings.persistence.finalizer = f"{GROUP}/finalizer"
    settings.persistence.progress_storage = kopf.AnnotationsProgressStorage(prefix=GROUP)
    settings.persistence.diffbase_storage = kopf.AnnotationsDiffBaseStorage(
        prefix=GROUP, key="last-handled-configuration"
    )
    settings.posting.level = logging.WARNING
    # Only our own Secrets: the server filters, so no other Secret ever streams in.
    settings.watching.label_selectors["v1", "secrets"] = "=".join(MANAGED_BY_LABEL)
    memo.runtime = await build_runtime(operator_settings)


@kopf.on.cleanup(registry=registry)
async def close(memo: kopf.Memo, **_: Any) -> None:
    if "runtime" in memo:
        await _runtime(memo).close()


# -- indexes ----------------------------------------------------------------------------------


@kopf.index(*IDENTITY_RESOURCE, registry=registry)
async def identities_by_name(
    name: str, body: kopf.Body, status: kopf.Status, **_: Any
) -> dict[str, dict[str, Any]]:
    written = {key: status.get(key) for key in ("bindings", "principal")}
    return {name: {"spec": dict(body.spec), "status": written}}


@kopf.index(*BINDING_RESOURCE, registry=registry)
async def bindings_by_identity(
    namespace: str | None, name: str, spec: kopf.Spec, **_: Any
) -> dict[str, tuple[str, str]]:
    identity = (spec.get("externalIdentityRef") or {}).get("name")
    if namespace is None or not isinstance(identity, str):
        return {}
    return {identity: (namespace, name)}


def _recount(runtime: Runtime, identities: IdentityIndex, bindings: BindingIndex) -> None:
    runtime.identity_statuses.stale(
        counts=lambda: {name: len(keys) for name, keys in bindings.items()},
        known=lambda: set(identities),
        written={
            name: next(iter(store), {}).get("status", {}) for name, store in identities.items()
        },
    )


# -- identities -------------------------------------------------------------------------------


@kopf.on.resume(*IDENTITY_RESOURCE, registry=registry)
@kopf.on.create(*IDENTITY_RESOURCE, registry=registry)
@kopf.on.update(*IDENTITY_RESOURCE, field="spec", registry=registry)
async def validate_identity(
    spec: kopf.Spec, status: kopf.Status, meta: kopf.Meta, patch: kopf.Patch, memo: kopf.Memo,
    **_: Any,
) -> None:
    patch.status.update(
        identity_readiness(
            spec, status, generation=meta.get("generation"), now=_runtime(memo).clock()
        )
    )


# kopf passes indexes as extra keyword arguments, which its callback protocols cannot name.
@kopf.on.event(*IDENTITY_RESOURCE, registry=registry)  # type: ignore[arg-type]
async def wake_bindings_of_identity(
    type: str | None,
    name: str,
    meta: kopf.Meta,
    memo: kopf.Memo,
    identities_by_name: IdentityIndex,
    bindings_by_identity: BindingIndex,
    **_: Any,
) -> None:
    """Only spec changes (and deletion) matter to bindings, not status writes."""
    runtime = _runtime(memo)
    _recount(runtime, identities_by_name, bindings_by_identity)
    generation = None if type == "DELETED" else meta.get("generation")
    if type == "DELETED":
        runtime.identity_statuses.forget(name)
    if generation is not None and runtime.identity_generations.get(name) == generation:
        return
    runtime.identity_generations[name] = generation
    for key in bindings_by_identity.get(name, []):
        runtime.wakeups.wake(key)


# -- bindings ---------------------------------------------------------------------------------


# The daemon returns on its own when stopped; kopf cancels it only if it has not within 2 s.
@kopf.daemon(  # type: ignore[arg-type]
    *BINDING_RESOURCE, cancellation_backoff=2.0, cancellation_timeout=10.0, registry=registry
)
async def keep_token_fresh(
    namespace: str | None,
    name: str,
    uid: str,
    body: kopf.Body,
    memo: kopf.Memo,
    stopped: kopf.DaemonStopped,
    identities_by_name: IdentityIndex,
    **_: Any,
) -> None:
    assert namespace is not None, "ServiceAccountBinding is namespaced"
    runtime = _runtime(memo)

    def identity(name: str) -> dict[str, Any] | None:
        return next(iter(identities_by_name.get(name, [])), None)

    def post_event(*, warning: bool, reason: str, message: str) -> None:
        kopf.event(body, type="Warning" if warning else "Normal", reason=reason, message=message)

    reconciler = BindingReconciler(
        namespace=namespace, name=name, uid=uid, status=body.status, identities=identity,
        pool=runtime.pool, secrets=runtime.secrets, statuses=runtime.statuses,
        events=post_event, ready=runtime.metrics.ready_bindings, settings=runtime.settings,
        principals=runtime.identity_statuses.saw_principal,
        clock=runtime.clock, rng=runtime.rng,
    )
    wake = runtime.wakeups.register(reconciler.key)
    try:
        while not stopped:
            runtime.wakeups.saw(reconciler.key, body.metadata.get("generation"))
            delay = await reconciler.step(body)
            await runtime.wakeups.sleep(wake, delay, until=stopped.wait())
    finally:
        runtime.wakeups.unregister(reconciler.key, wake)
        reconciler.forget()


@kopf.on.event(*BINDING_RESOURCE, registry=registry)  # type: ignore[arg-type]
async def wake_on_spec_change(
    type: str | None,
    namespace: str | None,
    name: str,
    meta: kopf.Meta,
    status: kopf.Status,
    memo: kopf.Memo,
    identities_by_name: IdentityIndex,
    bindings_by_identity: BindingIndex,
    **_: Any,
) -> None:
    runtime = _runtime(memo)
    if type in (None, "ADDED", "DELETED") or meta.get("generation") != status.get(
        "observedGeneration"
    ):
        _recount(runtime, identities_by_name, bindings_by_identity)
    if not namespace:
        return
    if meta.get("generation") != status.get("observedGeneration"):
        runtime.wakeups.wake_for((namespace, name), meta.get("generation"))
    request = meta.annotations.get(REFRESH_ANNOTATION)
    if request and request != status.get(HANDLED_REFRESH_FIELD):
        runtime.wakeups.wake((namespace, name))


@kopf.on.delete(*BINDING_RESOURCE, registry=registry)
async def remove_secret(
    namespace: str | None, uid: str, spec: kopf.Spec, memo: kopf.Memo, **_: Any
) -> None:
    """Owner references let the garbage collector do this too; we do not wait for it."""
    if namespace is None:
        return
    try:
        secret_name = parse_binding(spec).secret.name
    except ConfigurationError:
        return
    try:
        await _runtime(memo).secrets.delete(
            SecretTarget(namespace=namespace, name=secret_name, owner_key=uid, identity="")
        )
    except SecretConflict:
        log.info("Secret %s/%s is not ours; left in place", namespace, secret_name)


# -- secrets ----------------------------------------------------------------------------------


@kopf.on.event("v1", "secrets", labels=dict([MANAGED_BY_LABEL]), registry=registry)
async def wake_on_secret_drift(
    type: str | None, body: kopf.Body, namespace: str | None, memo: kopf.Memo, **_: Any
) -> None:
    annotations = body.metadata.annotations
    drifted = type == "DELETED" or annotations.get(CHECKSUM_ANNOTATION) != (
        data_checksum(body.get("data") or {})
    )
    if not drifted or namespace is None:
        return
    for owner in body.metadata.get("ownerReferences") or []:
        if owner.get("kind") == BINDING_KIND:
            _runtime(memo).wakeups.wake((namespace, owner.get("name")))
