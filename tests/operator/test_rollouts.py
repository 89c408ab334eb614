"""Restart on rotation: the real operator rolls workloads that follow a binding, once a token."""

from __future__ import annotations

import json
from collections.abc import Callable
from datetime import datetime
from typing import Any

import pytest
from support.operator import OperatorProcess
from support.peers.phase_model import ServiceAccount

from external_identity.controller.rollouts import (
    FINGERPRINT_ANNOTATION,
    FOLLOW_KEY,
    RESTARTED_AT_ANNOTATION,
    token_fingerprint,
)
from tests.operator.harness import GROUP, NAMESPACE, VERSION, Cluster, wait_for

pytestmark = pytest.mark.usefixtures("loopback_only")

REFRESH = "externalidentity.dev/refresh"
PLURALS = {"Deployment": "deployments", "StatefulSet": "statefulsets", "DaemonSet": "daemonsets"}
FOLLOWING = "restarts when the token of"
RESUMED = "resumed the token in Secret"


def workload(cluster: Cluster, kind: str, name: str, *, follows: str | None,
             labelled: bool = True) -> None:
    """A workload made by someone else (straight into the store: no request is logged)."""
    metadata: dict[str, Any] = {"name": name, "namespace": NAMESPACE}
    if labelled:
        metadata["labels"] = {FOLLOW_KEY: "true"}
    if follows is not None:
        metadata["annotations"] = {FOLLOW_KEY: follows}
    cluster.kube.create({
        "apiVersion": "apps/v1", "kind": kind, "metadata": metadata,
        "spec": {
            "selector": {"matchLabels": {"app": name}},
            "template": {"metadata": {"labels": {"app": name}},
                         "spec": {"containers": [{"name": "app", "image": "app:1"}]}},
        },
    })


def stored(cluster: Cluster, kind: str, name: str) -> dict[str, Any]:
    body = cluster.kube.get(f"apps/v1/{PLURALS[kind]}", NAMESPACE, name)
    assert body is not None
    return body


def template_annotations(cluster: Cluster, kind: str, name: str) -> dict[str, str]:
    template = stored(cluster, kind, name)["spec"]["template"]
    return dict((template.get("metadata") or {}).get("annotations") or {})


def restarts(cluster: Cluster, kind: str = "Deployment", name: str = "api") -> int:
    return sum(
        1 for call in cluster.kube.calls()
        if call.group == "apps" and call.resource == PLURALS[kind] and call.name == name
        and call.verb == "patch" and call.status < 400
    )


def rotate(cluster: Cluster, request: str, *, after: str | None) -> str:
    """Ask for one refresh; the new token once it is in the Secret."""
    cluster.custom.patch_namespaced_custom_object(
        GROUP, VERSION, NAMESPACE, "serviceaccountbindings", "payments-api",
        {"metadata": {"annotations": {REFRESH: request}}},
    )
    return wait_for(lambda: (token := cluster.token()) not in (None, after) and token,
                    message=f"the token minted for {request}")


def carries(cluster: Cluster, token: str, kind: str = "Deployment", name: str = "api") -> bool:
    fingerprints = template_annotations(cluster, kind, name).get(FINGERPRINT_ANNOTATION, "")
    return f"payments-api={token_fingerprint(token)}" in fingerprints.split(",")


def started(cluster: Cluster, account: ServiceAccount,
            start_operator: Callable[..., OperatorProcess], *args: str) -> OperatorProcess:
    cluster.apply_identity()
    cluster.apply_binding(account.id, ttl=600)
    operator = start_operator("--restart-on-rotation", *args)
    wait_for(cluster.token, message="first token")
    wait_for(lambda: FOLLOWING in operator.output, message="the followed workload watched")
    return operator


def test_a_rotation_restarts_each_following_workload_once_with_a_fingerprint_of_the_token(
    cluster: Cluster, account: ServiceAccount, start_operator: Callable[..., OperatorProcess],
) -> None:
    workload(cluster, "Deployment", "api", follows="payments-api")
    workload(cluster, "StatefulSet", "ledger", follows="other-binding, payments-api")
    workload(cluster, "DaemonSet", "agent", follows="other-binding")
    workload(cluster, "Deployment", "plain", follows=None, labelled=False)
    workload(cluster, "Deployment", "unlabelled", follows="payments-api", labelled=False)
    operator = started(cluster, account, start_operator, "--restart-min-interval", "0")
    first = cluster.token()
    assert first is not None
    assert restarts(cluster) == 0, "the first token is no rotation"

    second = rotate(cluster, "rotate-1", after=first)
    wait_for(lambda: carries(cluster, second), message="the Deployment restarted")
    wait_for(lambda: carries(cluster, second, "StatefulSet", "ledger"),
             message="the StatefulSet restarted")
    annotations = template_annotations(cluster, "Deployment", "api")
    fingerprint = token_fingerprint(second)
    assert len(fingerprint) == 16 and fingerprint not in second
    assert not second.startswith(fingerprint)
    for kind, name in (("Deployment", "api"), ("StatefulSet", "ledger")):
        assert second not in json.dumps(stored(cluster, kind, name)), "the token in a workload"
    assert datetime.fromisoformat(annotations[RESTARTED_AT_ANNOTATION].replace("Z", "+00:00"))
    assert second not in operator.output

    # Drift repair writes the same token back: no rotation, so no restart. The next real
    # rotation then counts exactly one more restart, so a repair restart would show.
    cluster.kube.delete("v1/secrets", NAMESPACE, "phase-service-token")
    wait_for(lambda: cluster.token() == second, message="the Secret repaired")
    third = rotate(cluster, "rotate-2", after=second)
    wait_for(lambda: carries(cluster, third), message="restarted for the second rotation")
    wait_for(lambda: carries(cluster, third, "StatefulSet", "ledger"), message="and the ledger")
    assert restarts(cluster) == 2
    assert restarts(cluster, "StatefulSet", "ledger") == 2
    for kind, name in (("DaemonSet", "agent"), ("Deployment", "plain"),
                       ("Deployment", "unlabelled")):
        assert restarts(cluster, kind, name) == 0, f"{kind} {name} was touched"
        assert template_annotations(cluster, kind, name) == {}


def test_a_rotation_inside_the_minimum_interval_waits_for_its_end_and_the_newest_token_wins(
    cluster: Cluster, account: ServiceAccount, start_operator: Callable[..., OperatorProcess],
) -> None:
    interval = 4.0
    workload(cluster, "Deployment", "api", follows="payments-api")
    started(cluster, account, start_operator, "--restart-min-interval", str(interval))
    second = rotate(cluster, "rotate-1", after=cluster.token())
    wait_for(lambda: carries(cluster, second), message="the first restart")
    first_restart = template_annotations(cluster, "Deployment", "api")[RESTARTED_AT_ANNOTATION]

    third = rotate(cluster, "rotate-2", after=second)
    fourth = rotate(cluster, "rotate-3", after=third)
    assert carries(cluster, second), "restarted again inside the interval"
    wait_for(lambda: carries(cluster, fourth), timeout=interval + 10,
             message="the deferred restart with the newest token")
    second_restart = template_annotations(cluster, "Deployment", "api")[RESTARTED_AT_ANNOTATION]
    apart = (datetime.fromisoformat(second_restart.replace("Z", "+00:00"))
             - datetime.fromisoformat(first_restart.replace("Z", "+00:00"))).total_seconds()
    assert apart >= interval
    assert restarts(cluster) == 2, "one restart for the two rotations inside the interval"


def test_a_restarted_operator_does_not_restart_workloads_again(
    cluster: Cluster, account: ServiceAccount, start_operator: Callable[..., OperatorProcess],
) -> None:
    workload(cluster, "Deployment", "api", follows="payments-api")
    first_run = started(cluster, account, start_operator, "--restart-min-interval", "0")
    second = rotate(cluster, "rotate-1", after=cluster.token())
    wait_for(lambda: carries(cluster, second), message="the restart")
    first_run.stop()

    second_run = start_operator("--restart-on-rotation", "--restart-min-interval", "0")
    wait_for(lambda: RESUMED in second_run.output and FOLLOWING in second_run.output,
             timeout=45,
             message="the token resumed and the workload watched again")
    # A restart caused by the operator's own restart would land before this rotation's.
    third = rotate(cluster, "rotate-2", after=second)
    wait_for(lambda: carries(cluster, third), message="the restart for the new rotation")
    assert restarts(cluster) == 2


def test_without_the_flag_no_workload_is_watched_or_patched(
    cluster: Cluster, account: ServiceAccount, start_operator: Callable[..., OperatorProcess],
) -> None:
    workload(cluster, "Deployment", "api", follows="payments-api")
    cluster.apply_identity()
    cluster.apply_binding(account.id, ttl=600)
    operator = start_operator()
    first = wait_for(cluster.token, message="first token")
    rotate(cluster, "rotate-1", after=first)
    cluster.wait_ready("TokenIssued")
    wait_for(lambda: cluster.binding()["status"].get("handledRefreshRequest") == "rotate-1",
             message="the rotation done")
    operator.stop()
    assert [call for call in cluster.kube.calls() if call.group == "apps"] == []
    assert template_annotations(cluster, "Deployment", "api") == {}
