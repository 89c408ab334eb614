"""Watches over the store: what each watch is sent, with its label and field selectors.

As the API server's watch cache does it (``cacheWatcher.convertToWatchEvent``), for live
watches and for watches resumed from a resourceVersion alike:

- a change to an object that matches the selector before and after is MODIFIED;
- an object that comes to match (created, or a label added) arrives as ADDED;
- an object that stops matching (a label removed or changed) leaves as DELETED, carrying its
  last matching state at the change's resourceVersion, and nothing more of it is sent;
- changes to objects outside the selection are not sent at all.

A watch resumed from before the last compaction (:meth:`.store.Store.compact`) gets one ERROR
event, a Status with code 410 (reason ``Expired``), and ends, as a real server's does: the client
must list again.

A watch without a resourceVersion (or ``0``, or with ``sendInitialEvents``) starts with ADDED
for what matches now; lists apply the same selectors.
"""

from __future__ import annotations

import asyncio
import copy
from collections.abc import AsyncIterator, Mapping
from typing import Any

import attrs
import kmock

from . import apimachinery as am
from .store import Matcher, Store, api_version

__all__ = ["Watches", "matcher", "seen_by"]

_Queue = asyncio.Queue[tuple[kmock.resource, dict[str, Any], dict[str, Any] | None] | None]


def matcher(params: Mapping[str, str], name: str | None = None) -> Matcher:
    """The request's ``labelSelector`` and ``fieldSelector`` (and a watched object's name)."""

    def matches(obj: Mapping[str, Any]) -> bool:
        meta = obj.get("metadata", {})
        return (
            (name is None or meta.get("name") == name)
            and am.label_selector_matches(params.get("labelSelector"), meta.get("labels") or {})
            and am.field_selector_matches(params.get("fieldSelector"), obj)
        )

    return matches


def seen_by(
    event: dict[str, Any], before: Mapping[str, Any] | None, matches: Matcher
) -> dict[str, Any] | None:
    """What a watch selecting ``matches`` is sent of one change (see the module docstring)."""
    kind, obj = event["type"], event["object"]
    was_in = before is not None and matches(before)
    if kind == "DELETED":
        return event if was_in else None
    if matches(obj):
        return event if was_in else {"type": "ADDED", "object": obj}
    if not was_in:
        return None
    assert before is not None
    gone = copy.deepcopy(dict(before))
    gone["metadata"]["resourceVersion"] = obj["metadata"]["resourceVersion"]
    return {"type": "DELETED", "object": gone}


async def _expired(since: int, compacted: int) -> AsyncIterator[dict[str, Any]]:
    yield {"type": "ERROR", "object": {
        "kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Failure",
        "message": f"too old resource version: {since} ({compacted})",
        "reason": "Expired", "code": 410,
    }}


@attrs.define
class Watches:
    """The open watches of one store; :meth:`publish` is the store's listener."""

    store: Store
    _queues: set[_Queue] = attrs.field(factory=set, init=False)

    def open(self, resource: kmock.resource, namespace: str | None, name: str | None,
             params: Mapping[str, str]) -> AsyncIterator[dict[str, Any]]:
        """The events of one watch request (raises a Status error for a bad resourceVersion)."""
        selected = matcher(params, name)

        def matches(obj: Mapping[str, Any]) -> bool:
            return namespace in (None, obj["metadata"].get("namespace")) and selected(obj)

        since = params.get("resourceVersion", "")
        initial = params.get("sendInitialEvents", "").lower() == "true"
        backlog: list[dict[str, Any]]
        if initial or since in {"", "0"}:
            objects = self.store.select(resource, namespace, matches)
            backlog = [{"type": "ADDED", "object": obj} for obj in objects]
        elif since.isdigit() and int(since) < self.store.compacted:
            return _expired(int(since), self.store.compacted)
        elif since.isdigit():
            backlog = self.since(resource, int(since), matches)
        else:
            raise am.bad_request(f"invalid resourceVersion {since!r}")
        if initial:
            backlog.append({"type": "BOOKMARK", "object": {
                "apiVersion": api_version(resource), "kind": self.store.resources[resource].kind,
                "metadata": {"resourceVersion": str(self.store.revision),
                             "annotations": {"k8s.io/initial-events-end": "true"}},
            }})
        queue: _Queue = asyncio.Queue()
        self._queues.add(queue)  # before any await: nothing between the backlog and the queue
        seconds = params.get("timeoutSeconds")
        deadline = asyncio.get_running_loop().time() + float(seconds) if seconds else None
        return self._stream(queue, backlog, resource, matches, deadline)

    def since(self, resource: kmock.resource, revision: int,
              matches: Matcher) -> list[dict[str, Any]]:
        """What a watch resumed after ``revision`` is sent first (nothing is compacted)."""
        seen = (
            seen_by(event, before, matches)
            for number, res, event, before in self.store.event_log
            if number > revision and res == resource
        )
        return [event for event in seen if event is not None]

    async def _stream(self, queue: _Queue, backlog: list[dict[str, Any]],
                      resource: kmock.resource, matches: Matcher,
                      deadline: float | None) -> AsyncIterator[dict[str, Any]]:
        try:
            for event in backlog:
                yield event
            async with asyncio.timeout_at(deadline):
                while (item := await queue.get()) is not None:
                    if item[0] == resource and (seen := seen_by(item[1], item[2], matches)):
                        yield seen
        except TimeoutError:
            return
        finally:
            self._queues.discard(queue)

    def publish(self, resource: kmock.resource, event: dict[str, Any],
                before: dict[str, Any] | None) -> None:
        for queue in list(self._queues):
            queue.put_nowait((resource, event, before))

    def close(self) -> None:
        """End every open watch (their streams finish normally)."""
        for queue in list(self._queues):
            queue.put_nowait(None)
