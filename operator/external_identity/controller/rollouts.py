"""Restart on rotation: workloads that follow a binding are rolled when its token is replaced.

A Deployment, StatefulSet or DaemonSet opts in with the label
``externalidentity.dev/restart-on-rotation: "true"`` (so a server-side label selector keeps
every other workload out of the operator's watch) and the annotation of the same key naming
the bindings it follows in its namespace (``"payments-api"`` or ``"api,worker"``). When such a
binding's token is replaced, the workload's pod template gets two annotations in one merge
patch, which rolls its pods as ``kubectl rollout restart`` does:

- ``externalidentity.dev/token-fingerprint``: ``binding=fingerprint`` pairs, one per binding
  followed, each the first 16 hex digits of the SHA-256 of that binding's token (never the
  token itself);
- ``externalidentity.dev/restarted-at``: when this operator restarted it (RFC 3339, microseconds).

What keeps this from looping or restarting too often:

- only a newly minted token replacing an earlier one is a rotation; a drift repair (the same
  token written back) and a token adopted after an operator restart never call in;
- a workload is patched only when its template lacks the binding's newest fingerprint, so the
  patch's own watch event, a restarted operator, or a repeated call change nothing;
- a workload is restarted at most once per minimum interval (read from ``restarted-at``): a
  rotation inside it is applied when the interval ends, merged with any later ones (the newest
  token wins) into one restart.

The first token of a binding (its Secret did not exist) restarts only workloads whose template
already carries a fingerprint of that binding: they ran with an earlier token (a re-created
binding); others were waiting for the Secret and start with it anyway. Workloads are known from
the watch (:meth:`Rollouts.workload_event`), so a rotation costs no LIST, only the PATCHes.
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
import random
from collections.abc import Callable, Mapping
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta
from typing import Any

from kubernetes import client
from kubernetes.client.exceptions import ApiException

from external_identity.api.times import Clock, parse_rfc3339
from external_identity.controller.decide.timing import retry_delay
from external_identity.errors import KubernetesApiError
from external_identity.kube.calls import api_failure, call_api
from external_identity.logrefs import about

__all__ = [
    "FINGERPRINT_ANNOTATION",
    "FOLLOW_KEY",
    "FOLLOW_LABEL",
    "RESTARTED_AT_ANNOTATION",
    "WORKLOAD_KINDS",
    "Rollouts",
    "Workload",
    "restart_patch",
    "stale_fingerprints",
    "token_fingerprint",
    "workload_from",
]

log = logging.getLogger(__name__)

#: Label (value "true") that puts a workload in the watch, and annotation naming its bindings.
FOLLOW_KEY = "externalidentity.dev/restart-on-rotation"
FOLLOW_LABEL = (FOLLOW_KEY, "true")
FINGERPRINT_ANNOTATION = "externalidentity.dev/token-fingerprint"
RESTARTED_AT_ANNOTATION = "externalidentity.dev/restarted-at"
#: kind -> plural of the apps/v1 workloads that can follow a binding.
WORKLOAD_KINDS = {"Deployment": "deployments", "StatefulSet": "statefulsets",
                  "DaemonSet": "daemonsets"}

WorkloadKey = tuple[str, str, str]  #: (kind, namespace, name)


# -- pure: no I/O below until Rollouts ---------------------------------------------------------


def token_fingerprint(token: str) -> str:
    """16 hex digits of the token's SHA-256: tells tokens apart, reveals nothing of them."""
    return hashlib.sha256(token.encode()).hexdigest()[:16]


@dataclass(frozen=True)
class Workload:
    kind: str
    namespace: str
    name: str
    #: The bindings it follows (the annotation's names).
    follows: frozenset[str]
    #: binding -> fingerprint, as its pod template carries them.
    fingerprints: Mapping[str, str]
    restarted_at: datetime | None

    @property
    def key(self) -> WorkloadKey:
        return (self.kind, self.namespace, self.name)

    def __str__(self) -> str:
        return f"{self.kind} {self.namespace}/{self.name}"

    @property
    def log_extra(self) -> dict[str, Any]:
        """``extra`` for log lines about this workload."""
        return about(self.kind, self.name, self.namespace)


def _pairs(text: str) -> dict[str, str]:
    pairs = (item.partition("=") for item in text.split(","))
    return {name.strip(): value.strip() for name, sep, value in pairs if sep and name.strip()}


def _format_pairs(pairs: Mapping[str, str]) -> str:
    return ",".join(f"{name}={value}" for name, value in sorted(pairs.items()))


def workload_from(body: Mapping[str, Any]) -> Workload | None:
    """The workload ``body`` describes, or None when it does not opt in (label and annotation)."""
    kind = body.get("kind")
    metadata: Mapping[str, Any] = body.get("metadata") or {}
    if kind not in WORKLOAD_KINDS or (metadata.get("labels") or {}).get(FOLLOW_KEY) != "true":
        return None
    names = str((metadata.get("annotations") or {}).get(FOLLOW_KEY) or "")
    follows = frozenset(name.strip() for name in names.split(",") if name.strip())
    if not follows:
        return None
    template = ((body.get("spec") or {}).get("template") or {}).get("metadata") or {}
    annotations: Mapping[str, Any] = template.get("annotations") or {}
    return Workload(
        kind=str(kind), namespace=str(metadata.get("namespace") or ""),
        name=str(metadata.get("name") or ""), follows=follows,
        fingerprints=_pairs(str(annotations.get(FINGERPRINT_ANNOTATION) or "")),
        restarted_at=parse_rfc3339(str(annotations.get(RESTARTED_AT_ANNOTATION) or "")),
    )


def stale_fingerprints(
    workload: Workload, wanted: Mapping[str, str], *, rotation: bool
) -> dict[str, str]:
    """The entries of ``wanted`` (binding -> newest fingerprint) the workload must be rolled for.

    Not those it already carries; and, unless the token was rotated, not those of bindings
    it never carried a fingerprint of (its pods started with the binding's first token).
    """
    stale: dict[str, str] = {}
    for binding, fingerprint in wanted.items():
        carried = workload.fingerprints.get(binding)
        if binding not in workload.follows or carried == fingerprint:
            continue
        if carried is None and not rotation:
            continue
        stale[binding] = fingerprint
    return stale


def restart_due(last_restart: datetime | None, *, min_interval: float) -> datetime | None:
    """The earliest moment the workload may be restarted again; None for at once."""
    return None if last_restart is None else last_restart + timedelta(seconds=min_interval)


def restart_patch(workload: Workload, updates: Mapping[str, str], now: datetime) -> dict[str, Any]:
    """The merge patch that rolls the pods: every followed binding's fingerprint, and the time."""
    fingerprints = {
        binding: value for binding, value in {**workload.fingerprints, **updates}.items()
        if binding in workload.follows
    }
    annotations = {
        FINGERPRINT_ANNOTATION: _format_pairs(fingerprints),
        RESTARTED_AT_ANNOTATION: now.astimezone(UTC).isoformat().replace("+00:00", "Z"),
    }
    return {"spec": {"template": {"metadata": {"annotations": annotations}}}}


# -- I/O ---------------------------------------------------------------------------------------


class Rollouts:
    """Keeps the followed workloads (from the watch) and patches them after rotations."""

    def __init__(
        self,
        apps: client.AppsV1Api,
        *,
        min_interval: float,
        retry_seconds: float,
        retry_cap_seconds: float,
        clock: Clock,
        active: Callable[[], bool],
    ) -> None:
        self._apps = apps
        self._min_interval = min_interval
        self._retry_seconds = retry_seconds
        self._retry_cap_seconds = retry_cap_seconds
        self._rng = random.Random()
        self._clock = clock
        self._active = active
        self._workloads: dict[WorkloadKey, Workload] = {}
        #: (namespace, binding) -> fingerprint of the newest token this process wrote.
        self._latest: dict[tuple[str, str], str] = {}
        #: What this process last wrote to a workload (an older watch event does not undo it).
        self._applied: dict[WorkloadKey, tuple[dict[str, str], datetime]] = {}
        self._pending: dict[WorkloadKey, dict[str, str]] = {}
        self._tasks: dict[WorkloadKey, asyncio.Task[None]] = {}

    def token_written(
        self, namespace: str, binding: str, fingerprint: str, *, replaced: bool
    ) -> None:
        """A newly minted token is in the binding's Secret (``replaced``: over an earlier one)."""
        self._latest[(namespace, binding)] = fingerprint
        for key, workload in list(self._workloads.items()):
            if workload.namespace == namespace and binding in workload.follows:
                self._consider(key, {binding: fingerprint}, rotation=replaced)

    def workload_event(self, *, deleted: bool, body: Mapping[str, Any]) -> None:
        """A watch event of a labelled workload."""
        metadata: Mapping[str, Any] = body.get("metadata") or {}
        key = (str(body.get("kind")), str(metadata.get("namespace")), str(metadata.get("name")))
        workload = None if deleted else workload_from(body)
        if workload is None:
            self._drop(key)
            return
        if key not in self._workloads:
            log.info("%s restarts when the token of %s is rotated", workload,
                     ", ".join(sorted(workload.follows)), extra=workload.log_extra)
        self._workloads[key] = workload
        if not self._active():  # a standby replica's newest tokens go stale
            self._latest.clear()
            return
        wanted = {
            binding: self._latest[(workload.namespace, binding)]
            for binding in workload.follows if (workload.namespace, binding) in self._latest
        }
        self._consider(key, wanted, rotation=False)

    async def close(self) -> None:
        tasks = list(self._tasks.values())
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)

    # -- deciding ---------------------------------------------------------------------------

    def _known(self, key: WorkloadKey) -> Workload | None:
        """The workload as watched, with what this process wrote to it laid over."""
        workload = self._workloads.get(key)
        applied = self._applied.get(key)
        if workload is None or applied is None:
            return workload
        fingerprints, restarted_at = applied
        return replace(
            workload, fingerprints={**workload.fingerprints, **fingerprints},
            restarted_at=max(restarted_at, workload.restarted_at or restarted_at),
        )

    def _consider(self, key: WorkloadKey, wanted: Mapping[str, str], *, rotation: bool) -> None:
        workload = self._known(key)
        if workload is None:
            return
        stale = stale_fingerprints(workload, wanted, rotation=rotation)
        if not stale:
            return
        self._pending.setdefault(key, {}).update(stale)
        if key not in self._tasks:
            self._tasks[key] = asyncio.get_running_loop().create_task(self._restart(key))

    def _drop(self, key: WorkloadKey) -> None:
        self._workloads.pop(key, None)
        self._applied.pop(key, None)
        self._pending.pop(key, None)
        task = self._tasks.pop(key, None)
        if task is not None:
            task.cancel()

    # -- restarting -------------------------------------------------------------------------

    async def _restart(self, key: WorkloadKey) -> None:
        """Patch the workload once its interval allows, until nothing is pending for it."""
        failures = 0
        try:
            while key in self._pending:
                workload = self._known(key)
                if workload is None or not self._active():
                    self._pending.pop(key, None)
                    return
                due = restart_due(workload.restarted_at, min_interval=self._min_interval)
                now = self._clock()
                if due is not None and due > now:
                    log.info("%s: restart for a rotated token deferred to %s (minimum interval "
                             "%gs)", workload, due.isoformat(), self._min_interval,
                             extra=workload.log_extra)
                    await asyncio.sleep((due - now).total_seconds())
                    continue
                updates = stale_fingerprints(workload, self._pending.pop(key), rotation=True)
                if not updates:
                    continue
                try:
                    await self._patch(workload, updates, now)
                except (ApiException, KubernetesApiError) as error:
                    if isinstance(error, ApiException) and error.status == 404:
                        return
                    failures += 1
                    self._pending[key] = {**updates, **self._pending.get(key, {})}
                    delay = retry_delay(failures=failures, base=self._retry_seconds,
                                        cap=self._retry_cap_seconds, retry_after=None,
                                        rng=self._rng)
                    log.warning("%s: cannot restart it for a rotated token, retrying in %gs: %s",
                                workload, delay, _describe(error), extra=workload.log_extra)
                    await asyncio.sleep(delay)
        finally:
            if self._tasks.get(key) is asyncio.current_task():
                del self._tasks[key]

    async def _patch(self, workload: Workload, updates: Mapping[str, str], now: datetime) -> None:
        patch = restart_patch(workload, updates, now)
        call = {
            "Deployment": self._apps.patch_namespaced_deployment,
            "StatefulSet": self._apps.patch_namespaced_stateful_set,
            "DaemonSet": self._apps.patch_namespaced_daemon_set,
        }[workload.kind]
        await call_api(f"restart {workload}", KubernetesApiError, call, workload.name,
                       workload.namespace, patch, _content_type="application/merge-patch+json")
        written = {**workload.fingerprints, **updates}
        self._applied[workload.key] = (written, now)
        log.info("%s restarted: the token of %s was rotated (fingerprint %s)", workload,
                 ", ".join(sorted(updates)), ", ".join(sorted(updates.values())),
                 extra=workload.log_extra)


def _describe(error: ApiException | KubernetesApiError) -> str:
    if isinstance(error, ApiException):
        reason, message = api_failure(error)
        return f"HTTP {error.status} {reason}{': ' + message if message else ''}"
    return str(error)
