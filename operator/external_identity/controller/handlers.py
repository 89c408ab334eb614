"""kopf handlers: thin wiring from cluster events to the binding fleet and status writers.

kopf watches identities (few, and their status is written by handlers here), and, when asked,
ServiceAccounts and workloads. Bindings and the operator's own Secrets, thousands of each, are
followed by the runtime's informers (:mod:`.informers`) and scheduled by one
:class:`.fleet.BindingFleet`: kopf puts nothing (no finalizer, no annotation) on them, and its
per-event cost stays off the loop the exchanges run on.
"""

from __future__ import annotations

import logging
from typing import Any

import kopf

from .identities import identity_readiness
from .resources import GROUP, IDENTITIES, VERSION
from .rollouts import FOLLOW_LABEL, WORKLOAD_KINDS
from .runtime import Runtime, build_runtime
from .settings import OperatorSettings

__all__ = ["registry", "watch_service_accounts", "watch_workloads"]

IDENTITY_RESOURCE = (GROUP, VERSION, IDENTITIES)

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
    # kopf keeps a worker (and the object's last raw event) per object until it has been idle
    # for idle_timeout: after a start-up LIST of thousands of bindings and Secrets that is
    # thousands at once. Measured at 2,000 bindings: 1 s and at most 256 workers (the watch
    # waits for a free one) cut peak memory by 14 MiB and a restart from 6.9 s to 2.8 s.
    settings.queueing.idle_timeout = 1.0
    settings.queueing.worker_limit = 256
    for plural in WORKLOAD_KINDS.values():  # watched only with --restart-on-rotation
        settings.watching.label_selectors["apps", plural] = "=".join(FOLLOW_LABEL)
    runtime = memo.runtime = await build_runtime(operator_settings)
    runtime.start_probing()
    peering = memo.get("peering")
    if peering is None:
        runtime.fleet.start()
    else:  # the peering object decides when this replica acts
        runtime.watch_peering(peering)


@kopf.on.cleanup(registry=registry)
async def close(memo: kopf.Memo, **_: Any) -> None:
    if "runtime" in memo:
        await _runtime(memo).close()


# -- identities -------------------------------------------------------------------------------


@kopf.on.resume(*IDENTITY_RESOURCE, registry=registry)
@kopf.on.create(*IDENTITY_RESOURCE, registry=registry)
@kopf.on.update(*IDENTITY_RESOURCE, field="spec", registry=registry)
async def validate_identity(
    spec: kopf.Spec, status: kopf.Status, meta: kopf.Meta, patch: kopf.Patch, memo: kopf.Memo,
    **_: Any,
) -> None:
    runtime = _runtime(memo)
    patch.status.update(
        identity_readiness(
            spec, status, generation=meta.get("generation"), now=runtime.clock(),
            credentials_problem=runtime.probe.problem(meta["name"]),
        )
    )


@kopf.on.event(*IDENTITY_RESOURCE, registry=registry)
async def identity_changed(
    type: str | None, name: str, body: kopf.Body, memo: kopf.Memo, **_: Any
) -> None:
    """Only spec changes (and deletion) matter to bindings, not status writes."""
    runtime = _runtime(memo)
    if type == "DELETED":
        runtime.identities.gone(name)
        runtime.identity_statuses.forget(name)
        runtime.probe.forget(name)
        changed = True
    else:
        changed = runtime.identities.saw(body)
        if changed:
            runtime.probe.changed(name)
    runtime.recount()
    if changed:
        runtime.fleet.identity_changed(name)


# -- service accounts (per-workload identity, --watch-service-accounts) ----------------------


def watch_service_accounts() -> None:
    """Registered only when asked: kopf watches every registered resource, RBAC or not."""

    async def service_account_changed(
        type: str | None, body: kopf.Body, name: str, namespace: str | None, memo: kopf.Memo,
        **_: Any,
    ) -> None:
        if namespace is None:
            return
        _runtime(memo).pool.service_account_event(
            namespace, name, deleted=type == "DELETED", uid=str(body.metadata.uid or ""),
            annotations=dict(body.metadata.annotations),
        )

    kopf.on.event("v1", "serviceaccounts", registry=registry)(service_account_changed)


# -- workloads (restart on rotation, --restart-on-rotation) ------------------------------------


def watch_workloads() -> None:
    """Registered only when asked; the label selector (see ``configure``) filters server-side."""

    async def workload_changed(
        type: str | None, body: kopf.Body, memo: kopf.Memo, **_: Any
    ) -> None:
        rollouts = _runtime(memo).rollouts
        if rollouts is not None:
            rollouts.workload_event(deleted=type == "DELETED", body=body)

    for plural in WORKLOAD_KINDS.values():
        kopf.on.event("apps", "v1", plural, labels=dict([FOLLOW_LABEL]),
                      registry=registry)(workload_changed)
