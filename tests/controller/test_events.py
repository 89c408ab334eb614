"""EventPoster against the Kubernetes API emulator: Events on bindings and identities, posted in
the background."""

from __future__ import annotations

import logging
from datetime import UTC, datetime
from typing import Any

import pytest
from support.kube.fixtures import KubeAPI

from external_identity.api.times import parse_rfc3339
from external_identity.controller.events import (
    CLUSTER_SCOPED_EVENTS_NAMESPACE,
    COMPONENT,
    MESSAGE_LIMIT,
    EventPoster,
)

NAMESPACE = "payments"
UID = "7c0e9a52-2f4b-4d8e-9a55-0b6a1d2c3e4f"
NOW = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)


@pytest.fixture
def poster(kube_api: KubeAPI) -> EventPoster:
    kube_api.ensure_namespace(NAMESPACE)
    return EventPoster(kube_api.core_v1())


def post(poster: EventPoster, *, warning: bool = False, reason: str = "TokenIssued",
         message: str = "token issued") -> None:
    poster.post(namespace=NAMESPACE, name="payments-api", uid=UID, warning=warning,
                reason=reason, message=message, now=NOW)


def events(kube_api: KubeAPI) -> list[dict[str, Any]]:
    return kube_api.select("v1/events", NAMESPACE)


async def test_an_event_names_the_binding_its_reason_and_the_operator(
    kube_api: KubeAPI, poster: EventPoster
) -> None:
    post(poster)
    await poster.close()

    [event] = events(kube_api)
    assert event["metadata"]["name"].startswith("payments-api.")
    assert event["involvedObject"] == {
        "apiVersion": "externalidentity.dev/v1alpha1", "kind": "ServiceAccountBinding",
        "name": "payments-api", "namespace": NAMESPACE, "uid": UID,
    }
    assert (event["type"], event["reason"], event["message"]) == (
        "Normal", "TokenIssued", "token issued")
    assert event["source"] == {"component": COMPONENT}
    assert parse_rfc3339(event["firstTimestamp"]) == parse_rfc3339(event["lastTimestamp"]) == NOW


async def test_a_warning_is_posted_as_such_with_its_message_cut_to_what_the_api_takes(
    kube_api: KubeAPI, poster: EventPoster
) -> None:
    post(poster, warning=True, reason="Rejected", message="x" * (MESSAGE_LIMIT + 100))
    await poster.close()

    [event] = events(kube_api)
    assert (event["type"], event["reason"]) == ("Warning", "Rejected")
    assert event["message"] == "x" * MESSAGE_LIMIT


async def test_posting_returns_before_the_api_answers(
    kube_api: KubeAPI, poster: EventPoster
) -> None:
    post(poster)
    assert events(kube_api) == []  # nothing was sent yet: the task has not run
    await poster.close()
    assert len(events(kube_api)) == 1


async def test_a_refused_event_is_logged_and_does_not_raise(
    kube_api: KubeAPI, poster: EventPoster, caplog: pytest.LogCaptureFixture
) -> None:
    kube_api.refuse(f"post /api/v1/namespaces/{NAMESPACE}/events", 403, "Forbidden", "no")
    with caplog.at_level(logging.WARNING, logger="external_identity.controller.events"):
        post(poster)
        await poster.close()

    assert events(kube_api) == []
    assert f"{NAMESPACE}/payments-api: event not posted (403)" in caplog.text


async def test_an_unreachable_api_is_logged_and_does_not_raise(
    kube_api: KubeAPI, poster: EventPoster, caplog: pytest.LogCaptureFixture
) -> None:
    with kube_api.outage(), caplog.at_level(logging.WARNING):
        post(poster)
        await poster.close()

    assert "event not posted (cannot post an event on ServiceAccountBinding" in caplog.text


async def test_an_event_on_an_identity_names_it_without_a_namespace_and_lives_in_default(
    kube_api: KubeAPI, poster: EventPoster
) -> None:
    poster.post_on_identity(name="prod-aws", uid=UID, warning=True,
                            reason="CredentialsUnavailable", message="no credentials", now=NOW)
    await poster.close()

    assert CLUSTER_SCOPED_EVENTS_NAMESPACE == "default"  # the only one the API server allows
    [event] = kube_api.select("v1/events", "default")
    assert event["involvedObject"] == {
        "apiVersion": "externalidentity.dev/v1alpha1", "kind": "ExternalIdentity",
        "name": "prod-aws", "uid": UID,
    }
    assert (event["type"], event["reason"]) == ("Warning", "CredentialsUnavailable")
