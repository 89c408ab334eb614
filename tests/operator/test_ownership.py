"""A binding's Secret is the binding's by its controller owner reference, not by a label.

Tools such as Helm, Argo CD and kustomize rewrite labels and annotations. The operator puts
back what it wrote within one wake-up, and keeps refreshing. A Secret of that name that the
binding does not own is never written, and no token is minted for it.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from support.operator import OperatorProcess
from support.peers.phase_model import ServiceAccount

from external_identity.api.resources import BINDINGS, GROUP, VERSION
from external_identity.controller.decide.plans import REFRESH_ANNOTATION
from external_identity.secrets.data import (
    IDENTITY_ANNOTATION,
    MANAGED_BY_LABEL,
    OWNER_ANNOTATION,
)
from tests.operator.harness import NAMESPACE, Cluster, wait_for

pytestmark = pytest.mark.usefixtures("loopback_only")

LABEL = MANAGED_BY_LABEL[0]


def _metadata(cluster: Cluster) -> Any:
    secret = cluster.secret()
    assert secret is not None
    return secret.metadata


def _patch_secret(cluster: Cluster, metadata: dict[str, Any]) -> None:
    cluster.core.patch_namespaced_secret(
        "phase-service-token", NAMESPACE, {"metadata": metadata},
        _content_type="application/merge-patch+json",
    )


def _labelled(cluster: Cluster) -> bool:
    return (_metadata(cluster).labels or {}).get(LABEL) == MANAGED_BY_LABEL[1]


def test_a_removed_label_is_put_back_and_refreshes_go_on(
    cluster: Cluster, account: ServiceAccount, start_operator: Callable[..., OperatorProcess],
) -> None:
    cluster.apply_identity()
    body = cluster.binding_body(account.id, ttl=600)
    body["spec"]["secret"]["labels"] = {"team": "payments"}
    cluster.custom.create_namespaced_custom_object(GROUP, VERSION, NAMESPACE, BINDINGS, body)
    start_operator()
    cluster.wait_ready("TokenIssued")
    first = cluster.token()

    _patch_secret(cluster, {"labels": {LABEL: None, "team": None}})

    wait_for(lambda: _labelled(cluster) and _metadata(cluster).labels.get("team") == "payments",
             message="the labels put back")
    assert cluster.token() == first
    assert len(cluster.phase.records.tokens) == 1, "putting a label back mints nothing"
    cluster.custom.patch_namespaced_custom_object(
        GROUP, VERSION, NAMESPACE, BINDINGS, "payments-api",
        {"metadata": {"annotations": {REFRESH_ANNOTATION: "now"}}},
    )
    wait_for(lambda: cluster.token() not in (None, first), message="the next token")
    assert len(cluster.phase.records.tokens) == 2


def test_edited_annotations_of_the_operator_are_put_back(
    cluster: Cluster, account: ServiceAccount, start_operator: Callable[..., OperatorProcess],
) -> None:
    cluster.apply_identity()
    cluster.apply_binding(account.id, ttl=600)
    start_operator()
    cluster.wait_ready("TokenIssued")
    written = dict(_metadata(cluster).annotations)

    _patch_secret(cluster, {"annotations": {OWNER_ANNOTATION: "someone-else",
                                            IDENTITY_ANNOTATION: None}})

    wait_for(lambda: {key: (_metadata(cluster).annotations or {}).get(key)
                      for key in (OWNER_ANNOTATION, IDENTITY_ANNOTATION)}
             == {key: written[key] for key in (OWNER_ANNOTATION, IDENTITY_ANNOTATION)},
             message="the annotations put back")
    assert len(cluster.phase.records.tokens) == 1


def test_a_label_lost_while_the_operator_was_down_is_put_back_without_a_new_token(
    cluster: Cluster, account: ServiceAccount, start_operator: Callable[..., OperatorProcess],
) -> None:
    cluster.apply_identity()
    cluster.apply_binding(account.id, ttl=600)
    first_run = start_operator()
    cluster.wait_ready("TokenIssued")
    first_run.stop()
    first = cluster.token()
    _patch_secret(cluster, {"labels": {LABEL: None}})

    start_operator()

    wait_for(lambda: _labelled(cluster), message="the label put back")
    assert cluster.token() == first
    assert len(cluster.phase.records.tokens) == 1


@pytest.mark.parametrize("labelled", [False, True], ids=["unlabelled", "with our label"])
def test_no_token_is_minted_for_a_secret_name_another_owner_took(
    cluster: Cluster, account: ServiceAccount, start_operator: Callable[..., OperatorProcess],
    labelled: bool,
) -> None:
    foreign = cluster.foreign_secret()
    if labelled:  # a label proves nothing: it is not the binding's owner reference
        _patch_secret(cluster, {"labels": dict([MANAGED_BY_LABEL])})
    cluster.apply_identity()
    cluster.apply_binding(account.id, ttl=600)
    applied = len(cluster.kube.calls())

    start_operator()

    cluster.wait_ready("SecretConflict")
    asked = [(call.verb, call.resource) for call in cluster.kube.calls()[applied:]
             if call.namespace == NAMESPACE and call.resource == "secrets"
             and call.verb not in ("list", "watch")]
    assert asked == ([] if labelled else [("get", "secrets")])
    assert cluster.phase.records.tokens == []
    secret = cluster.secret()
    assert secret is not None and secret.data == foreign.data
