"""kopf handlers: identity status, and, when asked, ServiceAccounts and workloads.

kopf writes each identity's Ready condition (its create, update and resume handlers here), and
watches ServiceAccounts and workloads when the settings ask. What bindings decide with —
identities, bindings and the operator's own Secrets — is followed by the operator's informers
(:mod:`.watching`) from before kopf starts, and bindings are scheduled by one
:class:`.bindings.fleet.BindingFleet`: kopf puts nothing (no finalizer, no annotation) on
them, and its per-event cost stays off the loop the exchanges run on.
"""

from __future__ import annotations

import asyncio
import logging
from typing import Any, cast

import kopf

from external_identity.api.resources import GROUP, IDENTITIES, VERSION
from external_identity.controller.assembly import Operator
from external_identity.controller.identities.status import identity_readiness
from external_identity.controller.rollouts import FOLLOW_LABEL, WORKLOAD_KINDS
from external_identity.controller.watching.peering import (
    LIFETIME,
    Peering,
    clusterwide_peering,
)

__all__ = ["registry", "run_kopf"]

IDENTITY_RESOURCE = (GROUP, VERSION, IDENTITIES)

registry = kopf.OperatorRegistry()
log = logging.getLogger(__name__)


def _operator(memo: kopf.Memo) -> Operator:
    operator: Operator = memo.operator
    return operator


@kopf.on.login(registry=registry)
def login(memo: kopf.Memo, **_: Any) -> kopf.ConnectionInfo:
    """What the operator's client connects with (the pod's service account in a cluster, else
    the kubeconfig, or ``run --kubeconfig/--context``): kopf and the fleet reach one API server
    as one user. Read anew at each login, so a rotated service account token is picked up."""
    operator = _operator(memo)
    configuration = operator.api.configuration
    header = (configuration.get_api_key_with_prefix("BearerToken")
              or configuration.get_api_key_with_prefix("authorization"))
    scheme, _space, token = (header or "").rpartition(" ")
    return kopf.ConnectionInfo(
        server=configuration.host,
        ca_path=configuration.ssl_ca_cert,
        insecure=not configuration.verify_ssl,
        username=configuration.username or None,
        password=configuration.password or None,
        scheme=scheme or None,
        token=token or None,
        certificate_path=configuration.cert_file,
        private_key_path=configuration.key_file,
        default_namespace=operator.kube_namespace,
    )


@kopf.on.startup(registry=registry)
async def configure(settings: kopf.OperatorSettings, memo: kopf.Memo, **_: Any) -> None:
    settings.persistence.finalizer = f"{GROUP}/finalizer"
    settings.persistence.progress_storage = kopf.AnnotationsProgressStorage(prefix=GROUP)
    settings.persistence.diffbase_storage = kopf.AnnotationsDiffBaseStorage(
        prefix=GROUP, key="last-handled-configuration"
    )
    settings.posting.level = logging.WARNING
    # Where the peering object is, and how soon a replica killed without a goodbye counts as
    # gone: as the operator's own PeeringGate reads it (see watching/peering.py).
    settings.peering.clusterwide = clusterwide_peering(_operator(memo).settings.namespaces)
    settings.peering.lifetime = LIFETIME
    # kopf keeps a worker (and the object's last raw event) per object until it has been idle
    # for idle_timeout; the objects it watches are few, but ServiceAccounts need not be.
    settings.queueing.idle_timeout = 1.0
    settings.queueing.worker_limit = 256
    for plural in WORKLOAD_KINDS.values():  # watched only with --restart-on-rotation
        settings.watching.label_selectors["apps", plural] = "=".join(FOLLOW_LABEL)


@kopf.on.cleanup(registry=registry)
async def close(memo: kopf.Memo, **_: Any) -> None:
    """Before kopf's last wait for tasks it did not start: the fleet's must be gone by then."""
    await _operator(memo).close()


async def run_kopf(
    operator: Operator,
    peering: Peering | None,
    *,
    namespaces: tuple[str, ...],
    peering_name: str | None,
    priority: int,
    liveness_endpoint: str | None,
    stop_flag: asyncio.Event | None,
) -> None:
    """Run kopf with these handlers (and the optional watches the settings ask for) until it
    is stopped; ``operator`` is already running, and is closed on the way out."""
    if operator.settings.watch_service_accounts:
        watch_service_accounts()
    if operator.settings.restart_on_rotation:
        watch_workloads()
    await kopf.operator(
        registry=registry,
        clusterwide=not namespaces,
        namespaces=namespaces,
        standalone=peering_name is None,
        peering_name=peering_name,
        priority=priority,
        liveness_endpoint=liveness_endpoint,
        identity=cast(Any, peering.identity if peering is not None else None),
        memo=kopf.Memo(operator=operator),
        stop_flag=stop_flag,
    )


# -- identities -------------------------------------------------------------------------------


@kopf.on.resume(*IDENTITY_RESOURCE, registry=registry)
@kopf.on.create(*IDENTITY_RESOURCE, registry=registry)
@kopf.on.update(*IDENTITY_RESOURCE, field="spec", registry=registry)
async def validate_identity(
    spec: kopf.Spec, status: kopf.Status, meta: kopf.Meta, patch: kopf.Patch, memo: kopf.Memo,
    **_: Any,
) -> None:
    operator = _operator(memo)
    patch.status.update(
        identity_readiness(
            spec, status, generation=meta.get("generation"), now=operator.clock(),
            credentials_problem=operator.probe.problem(meta["name"]),
        )
    )


# -- service accounts (per-workload identity, --watch-service-accounts) ----------------------


def watch_service_accounts() -> None:
    """Registered only when asked: kopf watches every registered resource, RBAC or not."""

    async def service_account_changed(
        type: str | None, body: kopf.Body, name: str, namespace: str | None, memo: kopf.Memo,
        **_: Any,
    ) -> None:
        if namespace is None:
            return
        _operator(memo).pool.service_account_event(
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
        rollouts = _operator(memo).rollouts
        if rollouts is not None:
            rollouts.workload_event(deleted=type == "DELETED", body=body)

    for plural in WORKLOAD_KINDS.values():
        kopf.on.event("apps", "v1", plural, labels=dict([FOLLOW_LABEL]),
                      registry=registry)(workload_changed)
