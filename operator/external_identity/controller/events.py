"""Kubernetes Events on bindings, posted in the background so a step never waits on one."""

from __future__ import annotations

import asyncio
import logging
from datetime import datetime

from kubernetes import client
from kubernetes.client.exceptions import ApiException

from external_identity.api.resources import BINDING_KIND, GROUP, VERSION
from external_identity.errors import ExternalIdentityError
from external_identity.kube.calls import call_api

__all__ = ["EventPoster"]

log = logging.getLogger(__name__)

COMPONENT = "external-identity-operator"
#: The API server refuses longer Event messages.
MESSAGE_LIMIT = 1024


class EventPoster:
    def __init__(self, api: client.CoreV1Api) -> None:
        self._api = api
        self._pending: set[asyncio.Task[None]] = set()

    def post(
        self, *, namespace: str, name: str, uid: str, warning: bool, reason: str, message: str,
        now: datetime,
    ) -> None:
        body = client.CoreV1Event(
            metadata=client.V1ObjectMeta(generate_name=f"{name}.", namespace=namespace),
            involved_object=client.V1ObjectReference(
                api_version=f"{GROUP}/{VERSION}", kind=BINDING_KIND, name=name,
                namespace=namespace, uid=uid,
            ),
            type="Warning" if warning else "Normal",
            reason=reason,
            message=message[:MESSAGE_LIMIT],
            source=client.V1EventSource(component=COMPONENT),
            reporting_component=COMPONENT,
            first_timestamp=now,
            last_timestamp=now,
            count=1,
        )
        task = asyncio.get_running_loop().create_task(self._create(namespace, name, body))
        self._pending.add(task)
        task.add_done_callback(self._pending.discard)

    async def _create(self, namespace: str, name: str, body: client.CoreV1Event) -> None:
        try:
            await call_api(f"post an event on {BINDING_KIND} {namespace}/{name}",
                           ExternalIdentityError, self._api.create_namespaced_event,
                           namespace, body)
        except (ApiException, ExternalIdentityError) as error:
            status = getattr(error, "status", None)
            log.warning("%s/%s: event not posted (%s)", namespace, name, status or error)

    async def close(self) -> None:
        pending = list(self._pending)
        if pending:
            await asyncio.wait(pending, timeout=5)
