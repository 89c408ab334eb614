"""Kubernetes Events on bindings and identities, posted in the background so a step never
waits on one.

An Event about a binding lives in the binding's namespace. One about an ExternalIdentity
(cluster-scoped) names it without a namespace — that is what ``kubectl describe eid`` looks
for — and so must itself live in ``default``: the API server accepts an Event whose object has
no namespace there only.
"""

from __future__ import annotations

import asyncio
import logging
from datetime import datetime

from kubernetes import client
from kubernetes.client.exceptions import ApiException

from external_identity.api.resources import BINDING_KIND, GROUP, IDENTITY_KIND, VERSION
from external_identity.errors import ExternalIdentityError
from external_identity.kube.calls import call_api
from external_identity.logrefs import about

__all__ = ["CLUSTER_SCOPED_EVENTS_NAMESPACE", "EventPoster"]

log = logging.getLogger(__name__)

COMPONENT = "external-identity-operator"
#: The API server refuses longer Event messages.
MESSAGE_LIMIT = 1024
#: Where Events about cluster-scoped objects go (the only namespace the API server allows).
CLUSTER_SCOPED_EVENTS_NAMESPACE = "default"


class EventPoster:
    def __init__(self, api: client.CoreV1Api) -> None:
        self._api = api
        self._pending: set[asyncio.Task[None]] = set()

    def post(
        self, *, namespace: str, name: str, uid: str, warning: bool, reason: str, message: str,
        now: datetime,
    ) -> None:
        """An Event on the ServiceAccountBinding ``namespace/name``."""
        self._post(namespace, BINDING_KIND, name, namespace, uid, warning=warning,
                   reason=reason, message=message, now=now)

    def post_on_identity(
        self, *, name: str, uid: str, warning: bool, reason: str, message: str, now: datetime,
    ) -> None:
        """An Event on the ExternalIdentity ``name``."""
        self._post(CLUSTER_SCOPED_EVENTS_NAMESPACE, IDENTITY_KIND, name, None, uid,
                   warning=warning, reason=reason, message=message, now=now)

    def _post(
        self, where: str, kind: str, name: str, namespace: str | None, uid: str, *,
        warning: bool, reason: str, message: str, now: datetime,
    ) -> None:
        body = client.CoreV1Event(
            metadata=client.V1ObjectMeta(generate_name=f"{name}.", namespace=where),
            involved_object=client.V1ObjectReference(
                api_version=f"{GROUP}/{VERSION}", kind=kind, name=name, namespace=namespace,
                uid=uid,
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
        task = asyncio.get_running_loop().create_task(self._create(where, kind, name, namespace,
                                                                   body))
        self._pending.add(task)
        task.add_done_callback(self._pending.discard)

    async def _create(
        self, where: str, kind: str, name: str, namespace: str | None, body: client.CoreV1Event
    ) -> None:
        shown = f"{namespace}/{name}" if namespace else name
        try:
            await call_api(f"post an event on {kind} {shown}", ExternalIdentityError,
                           self._api.create_namespaced_event, where, body)
        except (ApiException, ExternalIdentityError) as error:
            status = getattr(error, "status", None)
            log.warning("%s: event not posted (%s)", shown, status or error,
                        extra=about(kind, name, namespace))

    async def close(self) -> None:
        pending = list(self._pending)
        if pending:
            await asyncio.wait(pending, timeout=5)
