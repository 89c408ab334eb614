"""The informer against the API emulator: one LIST (a small first page, then larger ones), then
the watch, in the server's order; a refused LIST is retried; after 410 Expired a second LIST
says what exists."""

from __future__ import annotations

import asyncio
import dataclasses
import logging
from collections.abc import Set
from typing import Any

import pytest
from kubernetes import client
from support.kube.fixtures import KubeAPI

from external_identity.controller.watching.informers import Informer, ObjectKey
from external_identity.controller.watching.listing import FIRST_PAGE_SIZE, PAGE_SIZE, Lister, Scope

TEAM = "team"


class Recorder:
    def __init__(self) -> None:
        self.events: list[tuple[str, str]] = []
        self.listings: list[frozenset[ObjectKey]] = []
        self.changed = asyncio.Event()

    @staticmethod
    def trim(obj: dict[str, Any]) -> dict[str, Any]:
        return obj

    def saw(self, obj: dict[str, Any]) -> None:
        self._record("saw", obj)

    def gone(self, obj: dict[str, Any]) -> None:
        self._record("gone", obj)

    def listed(self, scope: Scope, keys: Set[ObjectKey], version: str) -> None:
        assert version.isdigit()
        self.listings.append(frozenset(keys))
        self.changed.set()

    def _record(self, what: str, obj: dict[str, Any]) -> None:
        self.events.append((what, obj["metadata"]["name"]))
        self.changed.set()

    async def until(self, condition: Any) -> None:
        while not condition():
            self.changed.clear()
            await self.changed.wait()


def secret(name: str, *, ours: bool = True) -> dict[str, Any]:
    labels = {"app.kubernetes.io/managed-by": "external-identity-operator"} if ours else {}
    return {"metadata": {"name": name, "labels": labels}, "stringData": {"k": "v"}}


@pytest.fixture
def core(kube_api: KubeAPI) -> client.CoreV1Api:
    kube_api.ensure_namespace(TEAM)
    return kube_api.core_v1()


def informer(kube_api: KubeAPI, recorder: Recorder, *namespaces: str) -> Informer:
    api = kube_api.api_client()
    lister = Lister(client.CustomObjectsApi(api), client.CoreV1Api(api), namespaces)
    return Informer("Secret", lister.token_secrets(), recorder)


async def test_listed_then_watched_in_order_and_only_what_the_selector_picks(
    kube_api: KubeAPI, core: client.CoreV1Api
) -> None:
    core.create_namespaced_secret(TEAM, secret("a"))
    core.create_namespaced_secret(TEAM, secret("not-ours", ours=False))
    recorder = Recorder()
    following = informer(kube_api, recorder)
    following.start()
    try:
        await asyncio.wait_for(following.synced.wait(), 20)
        assert recorder.listings == [frozenset({(TEAM, "a")})]
        await asyncio.to_thread(core.create_namespaced_secret, TEAM, secret("b"))
        await asyncio.to_thread(core.delete_namespaced_secret, "a", TEAM)
        async with asyncio.timeout(20):
            await recorder.until(lambda: len(recorder.events) >= 3)
        assert recorder.events == [("saw", "a"), ("saw", "b"), ("gone", "a")]
    finally:
        await following.stop()


async def test_a_refused_list_is_retried_and_logged_without_stopping(
    kube_api: KubeAPI, core: client.CoreV1Api, caplog: pytest.LogCaptureFixture
) -> None:
    core.create_namespaced_secret(TEAM, secret("a"))
    kube_api.refuse("get /api/v1/namespaces/team/secrets", 403, "Forbidden", "no", times=1)
    recorder = Recorder()
    following = informer(kube_api, recorder, TEAM)
    with caplog.at_level(logging.WARNING):
        following.start()
        try:
            await asyncio.wait_for(following.synced.wait(), 20)
        finally:
            await following.stop()
    assert recorder.listings == [frozenset({(TEAM, "a")})]
    assert "cannot list token Secrets in team (Forbidden no)" in caplog.text


async def test_after_410_expired_a_new_list_says_what_exists(
    kube_api: KubeAPI, core: client.CoreV1Api
) -> None:
    core.create_namespaced_secret(TEAM, secret("a"))
    recorder = Recorder()
    following = informer(kube_api, recorder)
    following.start()
    try:
        await asyncio.wait_for(following.synced.wait(), 20)
        with kube_api.outage():
            kube_api.delete("v1/secrets", TEAM, "a")
            kube_api.create({**secret("b"), "apiVersion": "v1", "kind": "Secret",
                             "metadata": {**secret("b")["metadata"], "namespace": TEAM}})
            kube_api.compact()
        async with asyncio.timeout(45):
            await recorder.until(lambda: len(recorder.listings) >= 2)
        assert recorder.listings[1] == frozenset({(TEAM, "b")})
        assert ("gone", "a") not in recorder.events  # the watch never said so: the LIST did
    finally:
        await following.stop()


async def test_stop_returns_while_a_watch_is_open_and_nothing_is_fed_after(
    kube_api: KubeAPI, core: client.CoreV1Api
) -> None:
    recorder = Recorder()
    following = informer(kube_api, recorder)
    following.start()
    await asyncio.wait_for(following.synced.wait(), 20)
    await asyncio.wait_for(following.stop(), 10)
    await asyncio.to_thread(core.create_namespaced_secret, TEAM, secret("late"))
    assert recorder.events == []


def test_a_list_comes_in_a_small_first_page_then_larger_ones_at_one_version(
    kube_api: KubeAPI, core: client.CoreV1Api
) -> None:
    for index in range(8):
        core.create_namespaced_secret(TEAM, secret(f"s{index}"))
    api = kube_api.api_client()
    scope = Lister(client.CustomObjectsApi(api), client.CoreV1Api(api)).token_secrets()[0]
    assert scope.page_sizes == (FIRST_PAGE_SIZE, PAGE_SIZE)
    assert FIRST_PAGE_SIZE < PAGE_SIZE

    pages = list(dataclasses.replace(scope, page_sizes=(2, 4)).pages())

    assert [len(page.items) for page in pages] == [2, 4, 2]
    assert len({page.resource_version for page in pages}) == 1
    names = [item["metadata"]["name"] for page in pages for item in page.items]
    assert sorted(names) == [f"s{index}" for index in range(8)]
