"""What the operator asks of the API server: only its own Secrets, and no read it can spare."""

from __future__ import annotations

from collections.abc import Callable

import pytest
from support.operator import OperatorProcess
from support.peers.phase_model import ServiceAccount

from external_identity.api.resources import BINDINGS, GROUP, VERSION
from external_identity.controller.decide.plans import HANDLED_REFRESH_FIELD, REFRESH_ANNOTATION
from external_identity.controller.watching.legacy import LEGACY_ANNOTATION, LEGACY_FINALIZER
from tests.operator.harness import NAMESPACE, Cluster, wait_for
from tests.operator.test_restarts import RESUMED

pytestmark = pytest.mark.usefixtures("loopback_only")

MANAGED = "app.kubernetes.io/managed-by=external-identity-operator"


def test_secrets_are_listed_and_watched_with_a_server_side_label_selector(
    cluster: Cluster, account: ServiceAccount, start_operator: Callable[..., OperatorProcess],
) -> None:
    cluster.apply_identity()
    cluster.apply_binding(account.id, ttl=600)
    start_operator()
    cluster.wait_ready("TokenIssued")

    streams = [call for call in cluster.kube.calls()
               if call.resource == "secrets" and call.verb in ("list", "watch")]
    assert {call.verb for call in streams} == {"list", "watch"}
    assert {call.label_selector for call in streams} == {MANAGED}


def _binding_calls(cluster: Cluster, since: int = 0) -> list[tuple[str, str | None]]:
    """What the operator asked of the API about bindings' own objects, after ``since`` calls.

    Start-up LISTs and watches are excluded (their cost does not grow with bindings), and so
    are reads of the binding: those are this test polling for the condition it waits on.
    """
    return sorted(
        (call.verb, call.rbac_resource) for call in cluster.kube.calls()[since:]
        if call.namespace == NAMESPACE and call.verb not in ("list", "watch")
        and call.resource in ("secrets", "serviceaccountbindings", "events")
        and (call.verb, call.rbac_resource) != ("get", "serviceaccountbindings")
    )


def _event_posted(cluster: Cluster, since: int = 0) -> bool:
    return any(call.resource == "events" and call.verb == "create"
               for call in cluster.kube.calls()[since:])


def test_a_first_issue_costs_a_look_a_create_and_a_status_patch(
    cluster: Cluster, account: ServiceAccount, start_operator: Callable[..., OperatorProcess],
) -> None:
    """Three requests: the look at a Secret name the watch does not know (it may be taken, and
    then no token is minted), the create, the status; the status says what an Event would."""
    cluster.apply_identity()
    cluster.apply_binding(account.id, ttl=600)
    applied = len(cluster.kube.calls())
    start_operator()
    cluster.wait_ready("TokenIssued")  # the status patch: the last of the three

    assert _binding_calls(cluster, applied) == [
        ("create", "secrets"), ("get", "secrets"), ("patch", "serviceaccountbindings/status"),
    ]
    assert not _event_posted(cluster, applied)
    assert not cluster.binding().get("metadata", {}).get("finalizers")


def test_a_refresh_costs_a_replace_and_a_status_patch(
    cluster: Cluster, account: ServiceAccount, start_operator: Callable[..., OperatorProcess],
) -> None:
    cluster.apply_identity()
    cluster.apply_binding(account.id, ttl=600)
    start_operator()
    cluster.wait_ready("TokenIssued")
    first = cluster.token()
    before = len(cluster.kube.calls())

    cluster.custom.patch_namespaced_custom_object(
        GROUP, VERSION, NAMESPACE, BINDINGS, "payments-api",
        {"metadata": {"annotations": {REFRESH_ANNOTATION: "now"}}},
    )
    wait_for(lambda: cluster.binding()["status"].get(HANDLED_REFRESH_FIELD) == "now",
             message="the refresh request handled")

    assert _binding_calls(cluster, before) == [
        ("patch", "serviceaccountbindings"),  # the test's own annotation
        ("patch", "serviceaccountbindings/status"), ("update", "secrets"),
    ]
    assert cluster.token() != first


def test_a_restart_costs_no_request_per_binding_and_no_exchange(
    cluster: Cluster, account: ServiceAccount, start_operator: Callable[..., OperatorProcess],
) -> None:
    cluster.apply_identity()
    apps = cluster.apply_apps(account.id, 3)
    first = start_operator()
    for app in apps:
        cluster.wait_ready("TokenIssued", name=app)
    first.stop()
    before = len(cluster.kube.calls())

    second = start_operator()
    wait_for(lambda: second.output.count(RESUMED) == 3, timeout=45,
             message="all three bindings resumed")

    assert _binding_calls(cluster, before) == []
    assert len(cluster.phase.records.tokens) == 3


def test_bindings_left_with_an_earlier_releases_finalizer_are_released(
    cluster: Cluster, account: ServiceAccount, start_operator: Callable[..., OperatorProcess],
) -> None:
    cluster.apply_identity()
    body = cluster.binding_body(account.id, ttl=600)
    body["metadata"]["finalizers"] = [LEGACY_FINALIZER, "example.com/keep"]
    body["metadata"]["annotations"] = {LEGACY_ANNOTATION: "{}", "team": "payments"}
    cluster.custom.create_namespaced_custom_object(GROUP, VERSION, NAMESPACE, BINDINGS, body)
    start_operator()

    released = wait_for(
        lambda: (meta := cluster.binding()["metadata"]).get("finalizers") == ["example.com/keep"]
        and LEGACY_ANNOTATION not in meta.get("annotations", {}) and meta,
        message="the legacy finalizer and annotation removed",
    )
    assert released["annotations"]["team"] == "payments"
    cluster.wait_ready("TokenIssued")
