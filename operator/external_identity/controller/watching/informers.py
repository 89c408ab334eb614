"""List, then watch, one kind of object, in a thread of its own: an informer, as client-go has.

Why not kopf's watch: kopf spends about 2 ms of the event loop on each event it handles
(bodies, per-object memories and workers, a diff base), and the loop is the one the exchanges
run on. Thousands of bindings changing at once then queue a new binding's ADDED event for
seconds behind them. Here a thread reads and parses the stream, and the loop only gets plain
dicts, in order, in batches (one wake-up per batch) through a bounded queue, so neither a LIST
of thousands of objects nor a backlog of events is ever held whole. One LIST per scope, a page
at a time, then a WATCH from its resourceVersion: nothing is listed twice.

A watch that ends (its timeout, a dropped connection) resumes from the last resourceVersion it
saw; bookmarks keep that fresh. When the server no longer has that history (410 Expired), it
lists again, and :meth:`Feed.listed` hands the consumer every key that exists in the scope,
so it can drop what was deleted meanwhile.
"""

from __future__ import annotations

import asyncio
import json
import logging
import queue
import random
import threading
from collections.abc import Iterator, Mapping, Sequence
from typing import Any, Generic, Protocol, TypeVar

import urllib3
from kubernetes.client.exceptions import ApiException

from external_identity.controller.decide.timing import retry_delay
from external_identity.controller.watching.listing import Scope
from external_identity.errors import ExternalIdentityError
from external_identity.kube.calls import api_failure

__all__ = ["Feed", "Informer", "ObjectKey", "object_key"]

log = logging.getLogger(__name__)

ObjectKey = tuple[str, str]  # (namespace, name)
Kept = TypeVar("Kept")

#: Seconds a WATCH asks the server to keep it open before it is resumed.
WATCH_SECONDS = 290
#: Events parsed ahead of the loop, at most; the thread waits while the loop catches up.
BACKLOG = 1000
#: Events handled per turn of the loop: other work gets a turn between batches.
BATCH = 200
RETRY_BASE_SECONDS = 0.5
RETRY_CAP_SECONDS = 10.0


class Feed(Protocol[Kept]):
    """What an informer tells its consumer, on the event loop, in the server's order."""

    def trim(self, obj: dict[str, Any]) -> Kept:
        """What the consumer keeps of an object as the server sent it. Called in the informer's
        thread, right after parsing, so the whole object (``managedFields`` and all) is freed
        there and never queued: it must not touch anything the event loop uses."""

    def saw(self, kept: Kept) -> None:
        """Listed, added or modified."""

    def gone(self, kept: Kept) -> None:
        """Deleted (or no longer selected): its last state."""

    def listed(self, scope: Scope, keys: frozenset[ObjectKey], version: str) -> None:
        """A LIST of ``scope`` ended: ``keys`` are all that existed there at ``version``."""


class _Expired(ExternalIdentityError):
    """The server compacted the history the watch would resume from."""


class _Stopped(ExternalIdentityError):
    """The informer is stopping: the thread ends."""


def object_key(obj: Mapping[str, Any]) -> ObjectKey:
    metadata = obj.get("metadata") or {}
    return str(metadata.get("namespace") or ""), str(metadata.get("name") or "")


def _lines(response: Any) -> Iterator[bytes]:
    rest = b""
    for chunk in response.stream(amt=None, decode_content=True):
        *lines, rest = (rest + chunk).split(b"\n")
        yield from (line for line in lines if line.strip())


def _reason(error: Exception) -> str:
    """What went wrong, for the log: the API's reason, or the connection error's type."""
    if isinstance(error, ApiException):
        return " ".join(part for part in api_failure(error) if part)
    return type(error).__name__


class Informer(Generic[Kept]):
    """Follows ``scopes`` (see :mod:`.listing`) for ``feed`` until :meth:`stop`."""

    def __init__(self, kind: str, scopes: Sequence[Scope], feed: Feed[Kept]) -> None:
        self._kind = kind
        self._scopes = tuple(scopes)
        self._feed = feed
        self._rng = random.Random()
        self._queue: queue.Queue[tuple[str, Any, Any]] = queue.Queue(maxsize=BACKLOG)
        self._draining = False
        self._stopping = threading.Event()
        self._responses: set[Any] = set()
        self._threads: list[threading.Thread] = []
        self._unlisted = {scope.what for scope in self._scopes}
        self._loop: asyncio.AbstractEventLoop | None = None
        #: Set once every scope has been listed: the consumer knows all that exists.
        self.synced = asyncio.Event()

    def start(self) -> None:
        self._loop = asyncio.get_running_loop()
        for scope in self._scopes:
            thread = threading.Thread(target=self._follow, args=(scope,), daemon=True,
                                      name=f"informer {scope.what}")
            self._threads.append(thread)
            thread.start()

    async def stop(self) -> None:
        """Stop following: nothing more reaches the feed once this returns."""
        self._stopping.set()
        for response in list(self._responses):  # unblocks a thread waiting on the stream
            response.shutdown()
        threads, self._threads = self._threads, []
        for thread in threads:
            await asyncio.to_thread(thread.join, 5)

    # -- in each scope's thread -------------------------------------------------------------------

    def _follow(self, scope: Scope) -> None:
        version: str | None = None
        failures = 0
        while not self._stopping.is_set():
            try:
                if version is None:
                    version = self._list(scope)
                version = self._watch(scope, version)
                failures = 0
            except _Stopped:
                return
            except _Expired:
                log.info("%s: the watch's history is gone (410 Expired); listing again",
                         scope.what)
                version = None
            except (ApiException, urllib3.exceptions.HTTPError, OSError, ValueError) as error:
                if self._stopping.is_set():
                    return
                if isinstance(error, ApiException) and error.status == 410:
                    version = None
                failures += 1
                delay = retry_delay(failures=failures + 1, base=RETRY_BASE_SECONDS,
                                    cap=RETRY_CAP_SECONDS, retry_after=None, rng=self._rng)
                log.warning("cannot %s %s (%s); retrying in %.1fs",
                            "list" if version is None else "watch", scope.what, _reason(error),
                            delay)
                self._stopping.wait(delay)
            except Exception:  # a bug must not end the informer: the fleet depends on it
                log.exception("following %s failed; retrying", scope.what)
                self._stopping.wait(RETRY_CAP_SECONDS)

    def _list(self, scope: Scope) -> str:
        keys: set[ObjectKey] = set()
        version = ""
        for page in scope.pages():
            version = page.resource_version
            for item in page.items:
                keys.add(object_key(item))
                self._post("saw", self._feed.trim(item))
        self._post("listed", scope, (frozenset(keys), version))
        log.debug("Listed %d %s", len(keys), scope.what)
        return version

    def _watch(self, scope: Scope, version: str) -> str:
        response = scope.watch(version, WATCH_SECONDS)
        self._responses.add(response)
        try:
            for line in _lines(response):
                event = json.loads(line)
                kind, obj = event.get("type"), event.get("object") or {}
                if kind == "ERROR":
                    if obj.get("code") == 410:
                        raise _Expired()
                    raise ValueError(f"watch error {obj.get('code')}: {obj.get('reason')}")
                version = str((obj.get("metadata") or {}).get("resourceVersion") or version)
                if kind in {"ADDED", "MODIFIED"} and scope.keeps(obj):
                    self._post("saw", self._feed.trim(obj))
                elif kind == "DELETED" and scope.keeps(obj):
                    self._post("gone", self._feed.trim(obj))
        finally:
            self._responses.discard(response)
            response.release_conn()
        return version

    def _post(self, what: str, first: Any, second: Any = None) -> None:
        while True:
            if self._stopping.is_set():
                raise _Stopped()
            try:
                self._queue.put((what, first, second), timeout=0.5)
                break
            except queue.Full:
                continue
        if not self._draining:
            self._draining = True
            assert self._loop is not None
            try:
                self._loop.call_soon_threadsafe(self._drain)
            except RuntimeError as error:  # the loop is closed: the operator is exiting
                raise _Stopped() from error

    # -- on the event loop ------------------------------------------------------------------------

    def _drain(self) -> None:
        self._draining = False  # before taking: an item put meanwhile schedules another drain
        for _ in range(BATCH):
            if self._stopping.is_set():
                return
            try:
                what, first, second = self._queue.get_nowait()
            except queue.Empty:
                return
            try:
                self._deliver(what, first, second)
            except Exception:  # one bad object must not stop the others
                log.exception("handling a %s event failed", self._kind)
        self._draining = True
        asyncio.get_running_loop().call_soon(self._drain)

    def _deliver(self, what: str, first: Any, second: Any) -> None:
        if what == "saw":
            self._feed.saw(first)
        elif what == "gone":
            self._feed.gone(first)
        else:
            self._feed.listed(first, *second)
            self._unlisted.discard(first.what)
            if not self._unlisted:
                self.synced.set()
