"""Whether this replica is the one that acts, by the rule kopf's peering pauses its handlers by.

With ``--peering``, kopf stops delivering events to every replica but the one with the highest
priority. Bindings are stepped by the operator's own workers, not by kopf handlers, so they
must stop too: :class:`PeeringGate` reads the same peering object kopf does, every
:data:`POLL_SECONDS`, and applies the same rule — a replica stands by while any other live
peer has a higher priority or the same one. It reads the object itself rather than through a
kopf handler because kopf pauses its handlers' watch streams at the very moment it sees a
higher peer, before a handler would be told.

Where the peering object is: cluster-wide (a ``ClusterKopfPeering``) when the operator watches
every namespace or ``--namespace`` holds a glob or an exclusion (:func:`clusterwide_peering`:
a pattern names no namespace to keep a ``KopfPeering`` in), else a ``KopfPeering`` in each
named namespace. kopf is told the same (``settings.peering.clusterwide``, see
:mod:`..handlers`).

How fast a dead replica is noticed: kopf writes this replica's keep-alive every
:data:`LIFETIME` minus 5 to 10 s (so every 5 to 10 s: 6 to 12 PATCHes a minute) with a
lifetime of :data:`LIFETIME`; a replica killed without a goodbye is dead to the others
:data:`LIFETIME` s after its last keep-alive, and the gate of a standby notices within
:data:`POLL_SECONDS` more (30 GETs a minute), by the rule kopf applies (:func:`acting`).
"""

from __future__ import annotations

import asyncio
import logging
import os
import secrets
import socket
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from kubernetes import client
from kubernetes.client.exceptions import ApiException

from external_identity.api.times import parse_rfc3339
from external_identity.controller.watching.listing import patterned
from external_identity.errors import KubernetesApiError
from external_identity.kube.calls import call_api

__all__ = [
    "LIFETIME",
    "PEERING_GROUP",
    "PEERING_VERSION",
    "POLL_SECONDS",
    "Peering",
    "PeeringGate",
    "acting",
    "clusterwide_peering",
    "peering_plural",
]

log = logging.getLogger(__name__)

#: How often the peering object is read: a takeover is noticed within this.
POLL_SECONDS = 2.0

PEERING_GROUP = "kopf.dev"
PEERING_VERSION = "v1"
#: How long kopf considers a peer alive after it was last seen, unless the peer says.
DEFAULT_LIFETIME = 60
#: Seconds this replica's keep-alive counts (kopf's ``settings.peering.lifetime``): a standby
#: acts within this plus :data:`POLL_SECONDS` of the active replica's death.
LIFETIME = 15


def clusterwide_peering(namespaces: tuple[str, ...]) -> bool:
    """Whether replicas watching ``namespaces`` (``--namespace``) peer cluster-wide."""
    return not namespaces or patterned(namespaces)


def peering_plural(*, clusterwide: bool) -> str:
    return "clusterkopfpeerings" if clusterwide else "kopfpeerings"


@dataclass(frozen=True)
class Peering:
    name: str
    priority: int
    #: This replica's entry in the peering object's status.
    identity: str

    @classmethod
    def for_this_process(cls, name: str, priority: int) -> Peering:
        host = os.environ.get("POD_ID") or socket.gethostname()
        return cls(name=name, priority=priority, identity=f"{host}/{secrets.token_hex(4)}")


def _alive(info: Mapping[str, Any], now: datetime) -> bool:
    lastseen = parse_rfc3339(str(info.get("lastseen") or ""))
    if lastseen is None:
        return True
    lifetime = timedelta(seconds=int(info.get("lifetime") or DEFAULT_LIFETIME))
    return lastseen + lifetime > now


def acting(peers: Mapping[str, Any], peering: Peering, *, now: datetime) -> bool:
    """True unless another live peer in ``peers`` (the status) outranks or ties with us."""
    for identity, info in peers.items():
        if identity == peering.identity or not isinstance(info, Mapping):
            continue
        if _alive(info, now) and int(info.get("priority") or 0) >= peering.priority:
            return False
    return True


class PeeringGate:
    """Tells the fleet to act or stand by as the peering object(s) say; runs until cancelled."""

    def __init__(
        self,
        peering: Peering,
        api: client.CustomObjectsApi,
        *,
        namespaces: tuple[str, ...],
        clock: Callable[[], datetime],
        act: Callable[[], None],
        stand_by: Callable[[], Awaitable[None]],
    ) -> None:
        self._peering = peering
        self._api = api
        self._namespaces = namespaces
        self._clock = clock
        self._act = act
        self._stand_by = stand_by
        #: None until the first read: then this replica acts or stands by, either way.
        self._acting: bool | None = None

    async def run(self) -> None:
        while True:
            try:
                peers = await self._peers()
            except (ApiException, KubernetesApiError) as error:
                log.warning("cannot read peering %s: %s", self._peering.name,
                            getattr(error, "reason", None) or error)
            else:
                await self._decide(all(acting(status, self._peering, now=self._clock())
                                       for status in peers))
            await asyncio.sleep(POLL_SECONDS)

    async def _decide(self, now_acting: bool) -> None:
        if now_acting == self._acting:
            return
        self._acting = now_acting
        if now_acting:
            log.info("Peering %s: no other replica outranks this one; acting",
                     self._peering.name)
            self._act()
        else:
            log.info("Peering %s: another replica acts; standing by", self._peering.name)
            await self._stand_by()

    async def _peers(self) -> list[Mapping[str, Any]]:
        """The status (peers) of each peering object kopf uses here."""
        name, what = self._peering.name, f"read peering {self._peering.name}"
        if clusterwide_peering(self._namespaces):
            bodies = [await call_api(
                what, KubernetesApiError, self._api.get_cluster_custom_object,
                PEERING_GROUP, PEERING_VERSION, peering_plural(clusterwide=True), name)]
        else:
            bodies = [await call_api(
                what, KubernetesApiError, self._api.get_namespaced_custom_object,
                PEERING_GROUP, PEERING_VERSION, namespace, peering_plural(clusterwide=False),
                name) for namespace in self._namespaces]
        return [dict(body).get("status") or {} for body in bodies if isinstance(body, Mapping)]
