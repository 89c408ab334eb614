"""kopf handlers: thin wiring from cluster events to the refresher and writers.

Each binding gets one async daemon that sleeps until its token is due (or it
is woken by a change to its spec, its identity or its Secret). Identities and
bindings are indexed in memory so a refresh never lists the cluster.
"""

from __future__ import annotations

import logging
from typing import Any

import kopf

from ..errors import ConfigurationError, SecretConflict
from ..secretwriter import ANNOTATION_PREFIX, MANAGED_BY_LABEL, SecretTarget, data_checksum
from . import conditions as reasons
from .conditions import set_condition
from .refresher import BindingRefresher
from .runtime import Runtime, build_runtime
from .settings import OperatorSettings
from .specs import parse_binding, parse_identity
from .statuses import GROUP, VERSION

__all__ = ["registry"]

IDENTITIES = (GROUP, VERSION, "externalidentities")
BINDINGS = (GROUP, VERSION, "serviceaccountbindings")

registry = kopf.OperatorRegistry()
log = logging.getLogger(__name__)


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
    memo.runtime = await build_runtime(operator_settings)


@kopf.on.cleanup(registry=registry)
async def close(memo: kopf.Memo, **_: Any) -> None:
    if "runtime" in memo:
        await _runtime(memo).close()


# -- indexes ----------------------------------------------------------------------------------


@kopf.index(*IDENTITIES, registry=registry)
async def identities_by_name(name: str, body: kopf.Body, **_: Any) -> dict[str, dict[str, Any]]:
    return {name: {"spec": dict(body.spec)}}


@kopf.index(*BINDINGS, registry=registry)
async def bindings_by_identity(
    namespace: str | None, name: str, spec: kopf.Spec, **_: Any
) -> dict[str, tuple[str, str]]:
    identity = (spec.get("externalIdentityRef") or {}).get("name")
    if namespace is None or not isinstance(identity, str):
        return {}
    return {identity: (namespace, name)}


# -- identities -------------------------------------------------------------------------------


@kopf.on.resume(*IDENTITIES, registry=registry)
@kopf.on.create(*IDENTITIES, registry=registry)
@kopf.on.update(*IDENTITIES, field="spec", registry=registry)
async def validate_identity(
    spec: kopf.Spec, status: kopf.Status, meta: kopf.Meta, patch: kopf.Patch, memo: kopf.Memo,
    **_: Any,
) -> None:
    try:
        parse_identity(spec)
        ready, reason, message = True, reasons.VALID, "spec is valid"
    except ConfigurationError as error:
        ready, reason, message = False, reasons.INVALID_SPEC, str(error)
    patch.status["conditions"] = set_condition(
        status.get("conditions") or [],
        type_=reasons.READY,
        status=ready,
        reason=reason,
        message=message,
        generation=meta.get("generation"),
        now=_runtime(memo).clock(),
    )
    patch.status["observedGeneration"] = meta.get("generation")


# kopf passes indexes as extra keyword arguments, which its callback protocols cannot name.
@kopf.on.event(*IDENTITIES, registry=registry)  # type: ignore[arg-type]
async def wake_bindings_of_identity(
    type: str | None,
    name: str,
    meta: kopf.Meta,
    memo: kopf.Memo,
    bindings_by_identity: kopf.Index[str, tuple[str, str]],
    **_: Any,
) -> None:
    """Only spec changes (and deletion) matter to bindings, not our own status writes."""
    runtime = _runtime(memo)
    generation = None if type == "DELETED" else meta.get("generation")
    if generation is not None and runtime.identity_generations.get(name) == generation:
        return
    runtime.identity_generations[name] = generation
    for key in bindings_by_identity.get(name, []):
        runtime.wakeups.wake(key)


# -- bindings ---------------------------------------------------------------------------------


# The daemon returns on its own when stopped; kopf cancels it only if it has not within 2 s.
@kopf.daemon(*BINDINGS, cancellation_backoff=2.0, cancellation_timeout=10.0, registry=registry)  # type: ignore[arg-type]
async def keep_token_fresh(
    namespace: str | None,
    name: str,
    uid: str,
    body: kopf.Body,
    memo: kopf.Memo,
    stopped: kopf.DaemonStopped,
    identities_by_name: kopf.Index[str, dict[str, Any]],
    **_: Any,
) -> None:
    assert namespace is not None, "ServiceAccountBinding is namespaced"
    runtime = _runtime(memo)
    key = (namespace, name)

    def lookup(identity: str) -> dict[str, Any] | None:
        return next(iter(identities_by_name.get(identity, [])), None)

    def post_event(*, warning: bool, reason: str, message: str) -> None:
        kopf.event(body, type="Warning" if warning else "Normal", reason=reason, message=message)

    refresher = BindingRefresher(
        namespace=namespace,
        name=name,
        uid=uid,
        identities=lookup,
        pool=runtime.pool,
        secrets=runtime.secrets,
        statuses=runtime.statuses,
        events=post_event,
        settings=runtime.settings,
        clock=runtime.clock,
        rng=runtime.rng,
        failures=int(body.status.get("failureCount") or 0),
        ready_gauge=runtime.metrics.bindings_ready,
    )
    wake = runtime.wakeups.register(key)
    try:
        while not stopped:
            delay = await refresher.step(body)
            await runtime.wakeups.sleep(wake, delay, until=stopped.wait())
    finally:
        runtime.wakeups.unregister(key, wake)
        refresher.forget()


@kopf.on.event(*BINDINGS, registry=registry)
async def wake_on_spec_change(
    namespace: str | None,
    name: str,
    meta: kopf.Meta,
    status: kopf.Status,
    memo: kopf.Memo,
    **_: Any,
) -> None:
    if namespace and meta.get("generation") != status.get("observedGeneration"):
        _runtime(memo).wakeups.wake((namespace, name))


@kopf.on.delete(*BINDINGS, registry=registry)
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
    drifted = type == "DELETED" or annotations.get(f"{ANNOTATION_PREFIX}data-checksum") != (
        data_checksum(body.get("data") or {})
    )
    if not drifted or namespace is None:
        return
    for owner in body.metadata.get("ownerReferences") or []:
        if owner.get("kind") == "ServiceAccountBinding":
            _runtime(memo).wakeups.wake((namespace, owner.get("name")))
