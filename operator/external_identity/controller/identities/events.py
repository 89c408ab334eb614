"""An Event on an ExternalIdentity whenever its Ready condition changes, as the watch sees it.

The identity's Ready condition has two writers (kopf's spec check and the credentials probe);
the Event follows what landed, not who wrote it: the identity informer tells every version it
sees, and :func:`ready_event` compares its Ready condition with the one seen before. A change
of status or reason is posted — Warning when it is not Ready (``CredentialsUnavailable``,
``InvalidSpec``), Normal when it is again — with the condition's reason and message (which
never hold secret material). A new identity that is Ready at once says nothing; one that is not
gets its Warning. An identity this process has not seen before (at start, or when a replica
takes over) is only remembered: a restart posts nothing again.

Events come from the operator that keeps identity status (cluster-wide, unsharded: see
:class:`.status.IdentityStatuses`), so shards and namespace-limited operators do not post them
once each.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from external_identity.api.conditions import ready_condition
from external_identity.controller.events import EventPoster

__all__ = ["IdentityEvents", "ReadyEvent", "ready_event"]


@dataclass(frozen=True)
class ReadyEvent:
    warning: bool
    reason: str
    message: str


def ready_event(
    before: Mapping[str, Any] | None, after: Mapping[str, Any] | None
) -> ReadyEvent | None:
    """What to post when the Ready condition went from ``before`` to ``after`` (None: the
    identity had none). Pure."""
    if after is None:
        return None
    ready = after.get("status") == "True"
    if before is None:
        if ready:
            return None
    elif (before.get("status"), before.get("reason")) == (after.get("status"),
                                                          after.get("reason")):
        return None
    return ReadyEvent(warning=not ready, reason=str(after.get("reason") or ""),
                      message=str(after.get("message") or ""))


class IdentityEvents:
    def __init__(
        self, poster: EventPoster, *, clock: Callable[[], datetime], enabled: bool = True
    ) -> None:
        self._poster = poster
        self._clock = clock
        self._enabled = enabled

    def seen(self, body: Mapping[str, Any], before: Mapping[str, Any] | None) -> None:
        """A version of a known identity, and its Ready condition as last seen (None: none)."""
        if not self._enabled:
            return
        event = ready_event(before, ready_condition(body.get("status") or {}))
        if event is None:
            return
        metadata: Mapping[str, Any] = body.get("metadata") or {}
        self._poster.post_on_identity(
            name=str(metadata.get("name")), uid=str(metadata.get("uid") or ""),
            warning=event.warning, reason=event.reason, message=event.message,
            now=self._clock(),
        )
