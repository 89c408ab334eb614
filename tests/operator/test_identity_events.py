"""Events on ExternalIdentities when their Ready condition changes, from the real operator.

An identity is cluster-scoped: its Events live in ``default`` and name it without a namespace,
which is what ``kubectl describe eid`` lists. Each test stops the operator before counting, so
every Event it meant to post has been posted.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from support.operator import OperatorProcess

from tests.operator.harness import GROUP, VERSION, Cluster, wait_for
from tests.operator.test_identities import identity, identity_ready, patch_identity

pytestmark = pytest.mark.usefixtures("loopback_only")

CREDENTIAL_KEYS = ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN")
#: Refused by the operator's own spec rules (maxTTL is 3600).
INVALID_SPEC = {"defaultTTL": 7200}


def identity_events(cluster: Cluster, name: str = "local-aws") -> list[Any]:
    """Events on the identity, in the order the API server stored them (the emulator's
    resourceVersions are increasing integers), in every namespace."""
    found = [
        event for event in cluster.core.list_event_for_all_namespaces().items
        if event.involved_object.kind == "ExternalIdentity"
        and event.involved_object.name == name
    ]
    return sorted(found, key=lambda event: int(event.metadata.resource_version))


def _event_with(cluster: Cluster, reason: str) -> Callable[[], Any]:
    return lambda: next((e for e in identity_events(cluster) if e.reason == reason), None)


def test_ready_changes_are_posted_once_each_and_restarts_post_nothing_again(
    cluster: Cluster, operator_env: dict[str, str],
    start_operator: Callable[..., OperatorProcess],
) -> None:
    cluster.apply_identity()
    uid = identity(cluster)["metadata"]["uid"]
    without_credentials = {k: v for k, v in operator_env.items() if k not in CREDENTIAL_KEYS}
    first = start_operator(env=without_credentials)
    unavailable = wait_for(_event_with(cluster, "CredentialsUnavailable"),
                           message="a Warning event for the missing credentials")

    patch_identity(cluster, {"description": "no change to Ready"})
    wait_for(lambda: (identity(cluster).get("status") or {}).get("observedGeneration") == 2,
             message="the description change handled")
    patch_identity(cluster, INVALID_SPEC)
    invalid = wait_for(_event_with(cluster, "InvalidSpec"), message="a Warning for the spec")
    first.stop()

    second = start_operator()  # with credentials: the spec, still invalid, is all that is wrong
    wait_for(lambda: "Handler 'validate_identity' succeeded" in second.output,
             message="the restarted operator resuming the identity")
    patch_identity(cluster, {"defaultTTL": 30})
    valid = wait_for(_event_with(cluster, "Valid"), message="a Normal event once it is Ready")
    wait_for(lambda: (identity_ready(cluster) or {}).get("status") == "True",
             message="the identity Ready")
    second.stop()

    events = identity_events(cluster)
    assert [(e.type, e.reason) for e in events] == [
        ("Warning", "CredentialsUnavailable"), ("Warning", "InvalidSpec"), ("Normal", "Valid"),
    ], "one Event per change of Ready: none for the description, none for the restart"
    assert "no AWS credentials found" in unavailable.message
    assert "defaultTTL must not exceed maxTTL" in invalid.message
    assert valid.message == "spec is valid"
    for event in events:
        assert event.metadata.namespace == "default"
        reference = event.involved_object
        assert (reference.api_version, reference.uid) == (f"{GROUP}/{VERSION}", uid)
        assert reference.namespace is None, "kubectl describe eid looks for no namespace"
        assert event.source.component == "external-identity-operator"
        for key in CREDENTIAL_KEYS:
            value = operator_env.get(key)
            assert not value or value not in event.message


def test_a_new_identity_that_is_ready_posts_no_event(
    cluster: Cluster, start_operator: Callable[..., OperatorProcess],
) -> None:
    operator = start_operator()
    wait_for(lambda: "Listed 0 identities" in operator.output, message="the operator started")
    cluster.apply_identity()
    cluster.apply_identity("broken", **INVALID_SPEC)
    wait_for(lambda: identity_events(cluster, "broken"), message="the broken one's Warning")
    wait_for(lambda: (identity_ready(cluster) or {}).get("status") == "True",
             message="the working one Ready")
    operator.stop()
    assert identity_events(cluster) == []
    assert [e.reason for e in identity_events(cluster, "broken")] == ["InvalidSpec"]
