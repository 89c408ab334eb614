"""The API goes away and comes back (KubeAPI.outage): what clients see, what survives."""

from __future__ import annotations

import http.client
import socket
import threading
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest
import support.kube
from kubernetes import watch
from support.kube.fixtures import KubeAPI
from urllib3.exceptions import MaxRetryError, NewConnectionError, ProtocolError

OPERATOR = Path(support.kube.__file__).with_name("selftest_operator.py")
BINDINGS = "externalidentity.dev/v1alpha1/serviceaccountbindings"


@pytest.fixture
def team(kube_api: KubeAPI) -> str:
    kube_api.ensure_namespace("team")
    return "team"


def address(kube_api: KubeAPI) -> tuple[str, int]:
    url = urlsplit(kube_api.url)
    assert url.hostname is not None and url.port is not None
    return url.hostname, url.port


def closed_by_the_server(connection: socket.socket) -> bool:
    try:
        return connection.recv(1) == b""  # end of stream
    except ConnectionResetError:
        return True


def kept_alive(kube_api: KubeAPI) -> socket.socket:
    """A connection the server has answered on and keeps open (HTTP/1.1 keep-alive)."""
    connection = http.client.HTTPConnection(*address(kube_api), timeout=5)
    connection.request("GET", "/version")
    response = connection.getresponse()
    response.read()
    assert response.status == 200 and not response.will_close
    assert connection.sock is not None
    return connection.sock


def secret(name: str) -> dict[str, Any]:
    return {"metadata": {"name": name}}


def test_requests_during_an_outage_fail_to_connect(kube_api: KubeAPI, team: str) -> None:
    core = kube_api.core_v1()
    core.create_namespaced_secret(team, secret("a"))  # leaves a keep-alive connection pooled
    idle = kept_alive(kube_api)

    with kube_api.outage():
        assert not kube_api.serving
        with pytest.raises(MaxRetryError) as caught:
            core.read_namespaced_secret("a", team)
        assert isinstance(caught.value.reason, NewConnectionError)
        assert isinstance(caught.value.reason.__cause__, ConnectionRefusedError)
        with pytest.raises(ConnectionRefusedError):
            socket.create_connection(address(kube_api), timeout=5).close()
        with idle:
            assert closed_by_the_server(idle)  # open before the outage: broken, not left hanging

    assert kube_api.serving
    assert core.read_namespaced_secret("a", team).metadata.name == "a"


def test_an_open_watch_stream_breaks_when_the_api_goes_down(kube_api: KubeAPI, team: str) -> None:
    core = kube_api.core_v1()
    since = core.list_namespaced_secret(team).metadata.resource_version
    seen: list[str] = []
    ended: list[BaseException] = []

    def follow() -> None:
        try:
            stream = watch.Watch().stream(
                core.list_namespaced_secret, team, resource_version=since, _request_timeout=30)
            for event in stream:
                seen.append(event["object"].metadata.name)
        except Exception as error:  # what the watching client sees is the subject here
            ended.append(error)

    watcher = threading.Thread(target=follow, name="watcher", daemon=True)
    watcher.start()
    core.create_namespaced_secret(team, secret("before"))
    kube_api.wait_for(lambda: seen == ["before"], message="the watch to be streaming")

    with kube_api.outage():
        watcher.join(timeout=10)
        assert not watcher.is_alive()
        kube_api.create({"apiVersion": "v1", "kind": "Secret",
                         "metadata": {"name": "during", "namespace": team}})

    assert len(ended) == 1
    assert isinstance(ended[0], ProtocolError)  # reset mid-stream, not a clean end
    assert seen == ["before"]


def test_objects_and_resource_versions_survive_and_watches_resume(
    kube_api: KubeAPI, team: str
) -> None:
    core = kube_api.core_v1()
    url = kube_api.url
    untouched = core.create_namespaced_secret(team, secret("untouched"))
    changed = core.create_namespaced_secret(team, secret("changed"))
    last_seen = changed.metadata.resource_version

    with kube_api.outage():
        assert kube_api.get("v1/secrets", team, "untouched") is not None  # the store is there
        kube_api.patch_object("v1/secrets", team, "changed", {"metadata": {"labels": {"x": "y"}}})

    assert kube_api.url == url
    again = core.read_namespaced_secret("untouched", team)  # the same client, reconnecting
    assert (again.metadata.uid, again.metadata.resource_version) == (
        untouched.metadata.uid, untouched.metadata.resource_version)
    core.create_namespaced_secret(team, secret("after"))

    events: list[tuple[str, str, dict[str, str] | None]] = []
    resumed = watch.Watch()
    for event in resumed.stream(core.list_namespaced_secret, team, resource_version=last_seen,
                                _request_timeout=10):
        events.append((event["type"], event["object"].metadata.name,
                       event["object"].metadata.labels))
        if len(events) == 2:
            resumed.stop()
    assert events == [("MODIFIED", "changed", {"x": "y"}), ("ADDED", "after", None)]


def test_going_down_and_coming_back_twice_is_harmless(kube_api: KubeAPI, team: str) -> None:
    kube_api.go_down()
    kube_api.go_down()
    assert not kube_api.serving
    kube_api.come_back()
    kube_api.come_back()
    assert kube_api.serving

    with kube_api.outage():
        pass
    names = [s.metadata.name for s in kube_api.core_v1().list_namespaced_secret(team).items]
    assert names == []


def test_a_client_made_during_the_outage_works_once_the_api_is_back(
    kube_api: KubeAPI, team: str
) -> None:
    with kube_api.outage():
        core = kube_api.core_v1()
        with pytest.raises(MaxRetryError):
            core.list_namespaced_secret(team)
    assert core.list_namespaced_secret(team).items == []


def test_kopf_picks_up_what_changed_while_the_api_was_down(
    kube_api: KubeAPI, run_operator: Any, team: str
) -> None:
    def binding(name: str) -> dict[str, Any]:
        return {
            "apiVersion": "externalidentity.dev/v1alpha1",
            "kind": "ServiceAccountBinding",
            "metadata": {"name": name, "namespace": team},
            "spec": {
                "externalIdentityRef": {"name": "prod-aws"},
                "serviceAccountId": "0f1a2b3c-4d5e-6789-abcd-ef0123456789",
                "secret": {"name": f"{name}-token"},
            },
        }

    with run_operator(paths=[OPERATOR]) as runner:
        kube_api.create(binding("first"))
        kube_api.wait_for(lambda: kube_api.get("v1/secrets", team, "first-token"),
                          message="the operator to handle a binding")
        watches_before = sum(call.verb == "watch" for call in kube_api.calls())

        with kube_api.outage():
            kube_api.create(binding("second"))

        status = kube_api.wait_for(
            lambda: (kube_api.get(BINDINGS, team, "second") or {}).get("status"),
            message="the operator to handle a binding made during the outage")
        assert status["secretName"] == "second-token"
        assert kube_api.get("v1/secrets", team, "second-token") is not None
        assert sum(call.verb == "watch" for call in kube_api.calls()) > watches_before

    assert runner.exit_code == 0

