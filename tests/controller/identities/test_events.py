"""Events on an ExternalIdentity when its Ready condition changes: what to post (pure), and the
post (a recording poster passed in, or the real one against the Kubernetes API emulator)."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any, cast

import pytest
from support.kube.fixtures import KubeAPI

from external_identity.controller.events import CLUSTER_SCOPED_EVENTS_NAMESPACE, EventPoster
from external_identity.controller.identities.events import IdentityEvents, ReadyEvent, ready_event

NOW = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)
READY = {"type": "Ready", "status": "True", "reason": "Valid", "message": "spec is valid"}
NO_CREDENTIALS = {"type": "Ready", "status": "False", "reason": "CredentialsUnavailable",
                  "message": "no AWS credentials found"}
INVALID = {**NO_CREDENTIALS, "reason": "InvalidSpec", "message": "spec: bad"}


@pytest.mark.parametrize(
    ("before", "after", "expected"),
    [
        (None, READY, None),
        (None, NO_CREDENTIALS, ReadyEvent(True, "CredentialsUnavailable",
                                          "no AWS credentials found")),
        (READY, {**READY, "message": "other words"}, None),
        (READY, NO_CREDENTIALS, ReadyEvent(True, "CredentialsUnavailable",
                                           "no AWS credentials found")),
        (NO_CREDENTIALS, INVALID, ReadyEvent(True, "InvalidSpec", "spec: bad")),
        (NO_CREDENTIALS, READY, ReadyEvent(False, "Valid", "spec is valid")),
        (READY, None, None),
    ],
    ids=["new and ready", "new and not ready", "same reason", "no longer ready",
         "another reason", "ready again", "no condition"],
)
def test_only_a_change_of_status_or_reason_is_an_event(
    before: dict[str, Any] | None, after: dict[str, Any] | None, expected: ReadyEvent | None
) -> None:
    assert ready_event(before, after) == expected


def body(condition: dict[str, Any]) -> dict[str, Any]:
    return {"metadata": {"name": "prod-aws", "uid": "u-1"}, "status": {"conditions": [condition]}}


class Poster:
    def __init__(self) -> None:
        self.posted: list[dict[str, Any]] = []

    def post_on_identity(self, **event: Any) -> None:
        self.posted.append(event)


def test_a_version_that_flips_ready_is_posted_at_the_clocks_time() -> None:
    poster = Poster()
    events = IdentityEvents(cast(EventPoster, poster), clock=lambda: NOW)
    events.seen(body(READY), READY)
    events.seen(body(NO_CREDENTIALS), READY)
    assert poster.posted == [{"name": "prod-aws", "uid": "u-1", "warning": True,
                              "reason": "CredentialsUnavailable",
                              "message": "no AWS credentials found", "now": NOW}]


def test_an_operator_that_does_not_keep_identity_status_posts_nothing() -> None:
    poster = Poster()
    events = IdentityEvents(cast(EventPoster, poster), clock=lambda: NOW, enabled=False)
    events.seen(body(NO_CREDENTIALS), READY)
    assert poster.posted == []


async def test_the_event_reaches_the_api_about_the_identity(kube_api: KubeAPI) -> None:
    poster = EventPoster(kube_api.core_v1())
    IdentityEvents(poster, clock=lambda: NOW).seen(body(READY), NO_CREDENTIALS)
    await poster.close()
    [event] = kube_api.select("v1/events", CLUSTER_SCOPED_EVENTS_NAMESPACE)
    assert (event["involvedObject"]["kind"], event["involvedObject"]["name"]) == (
        "ExternalIdentity", "prod-aws")
    assert (event["type"], event["reason"], event["message"]) == (
        "Normal", "Valid", "spec is valid")
