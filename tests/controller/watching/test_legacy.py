"""Releasing what releases before 0.3 left on bindings, against the Kubernetes API emulator."""

from __future__ import annotations

import logging
from typing import Any

import pytest
from support.kube.fixtures import KubeAPI

from external_identity.controller.watching.legacy import (
    LEGACY_ANNOTATION,
    LEGACY_FINALIZER,
    carries_legacy_marks,
    release,
)

NAMESPACE = "payments"
BINDINGS = "externalidentity.dev/v1alpha1/serviceaccountbindings"
OTHER_FINALIZER = "example.com/keep"


def binding(*, finalizers: list[str], annotations: dict[str, str]) -> dict[str, Any]:
    return {
        "apiVersion": "externalidentity.dev/v1alpha1", "kind": "ServiceAccountBinding",
        "metadata": {"name": "payments-api", "namespace": NAMESPACE, "finalizers": finalizers,
                     "annotations": annotations},
        "spec": {"externalIdentityRef": {"name": "prod-aws"},
                 "serviceAccountId": "0f1a2b3c-4d5e-6789-abcd-ef0123456789",
                 "secret": {"name": "phase-service-token"}},
    }


def stored(kube_api: KubeAPI) -> dict[str, Any]:
    found = kube_api.get(BINDINGS, NAMESPACE, "payments-api")
    assert found is not None
    return found


def seeded(kube_api: KubeAPI, **marks: Any) -> dict[str, Any]:
    kube_api.ensure_namespace(NAMESPACE)
    kube_api.create(binding(**marks))
    metadata: dict[str, Any] = stored(kube_api)["metadata"]
    return metadata


@pytest.mark.parametrize(
    ("metadata", "expected"),
    [
        ({"finalizers": [LEGACY_FINALIZER]}, True),
        ({"annotations": {LEGACY_ANNOTATION: "{}"}}, True),
        ({"finalizers": [OTHER_FINALIZER], "annotations": {"a": "b"}}, False),
        ({"finalizers": None, "annotations": None}, False),
        ({}, False),
    ],
)
def test_a_binding_carries_legacy_marks_if_it_has_the_old_finalizer_or_diff_base(
    metadata: dict[str, Any], expected: bool
) -> None:
    assert carries_legacy_marks(metadata) is expected


async def test_release_removes_the_legacy_finalizer_and_annotation_and_keeps_the_rest(
    kube_api: KubeAPI, caplog: pytest.LogCaptureFixture
) -> None:
    metadata = seeded(kube_api, finalizers=[LEGACY_FINALIZER, OTHER_FINALIZER],
                      annotations={LEGACY_ANNOTATION: "{}", "team": "payments"})

    with caplog.at_level(logging.INFO, logger="external_identity.controller.watching.legacy"):
        await release(kube_api.custom_objects(), metadata)

    after = stored(kube_api)["metadata"]
    assert after["finalizers"] == [OTHER_FINALIZER]
    assert after["annotations"] == {"team": "payments"}
    assert "payments/payments-api: released the finalizer of an earlier release" in caplog.text


async def test_release_of_the_only_finalizer_leaves_none(kube_api: KubeAPI) -> None:
    metadata = seeded(kube_api, finalizers=[LEGACY_FINALIZER], annotations={})

    await release(kube_api.custom_objects(), metadata)

    assert not stored(kube_api)["metadata"].get("finalizers")


async def test_a_binding_changed_since_it_was_seen_is_left_alone(
    kube_api: KubeAPI, caplog: pytest.LogCaptureFixture
) -> None:
    metadata = seeded(kube_api, finalizers=[LEGACY_FINALIZER], annotations={})
    kube_api.patch_object(BINDINGS, NAMESPACE, "payments-api",
                          {"metadata": {"labels": {"shard": "a"}}})

    with caplog.at_level(logging.WARNING):
        await release(kube_api.custom_objects(), metadata)

    assert stored(kube_api)["metadata"]["finalizers"] == [LEGACY_FINALIZER]
    assert caplog.text == ""  # a conflict is expected: the next event brings it back


async def test_a_binding_already_gone_is_no_error(
    kube_api: KubeAPI, caplog: pytest.LogCaptureFixture
) -> None:
    kube_api.ensure_namespace(NAMESPACE)
    metadata = {"namespace": NAMESPACE, "name": "gone", "resourceVersion": "1",
                "finalizers": [LEGACY_FINALIZER]}
    with caplog.at_level(logging.WARNING):
        await release(kube_api.custom_objects(), metadata)
    assert caplog.text == ""


async def test_a_refused_release_is_logged_with_the_apis_reason(
    kube_api: KubeAPI, caplog: pytest.LogCaptureFixture
) -> None:
    metadata = seeded(kube_api, finalizers=[LEGACY_FINALIZER], annotations={})
    kube_api.refuse(f"patch /apis/externalidentity.dev/v1alpha1/namespaces/{NAMESPACE}"
                    "/serviceaccountbindings/payments-api", 403, "Forbidden", "cannot patch")

    with caplog.at_level(logging.WARNING):
        await release(kube_api.custom_objects(), metadata)

    assert stored(kube_api)["metadata"]["finalizers"] == [LEGACY_FINALIZER]
    assert ("cannot release the legacy finalizer of ServiceAccountBinding "
            "payments/payments-api: Forbidden cannot patch") in caplog.text


async def test_an_unreachable_api_is_logged_not_raised(
    kube_api: KubeAPI, caplog: pytest.LogCaptureFixture
) -> None:
    metadata = seeded(kube_api, finalizers=[LEGACY_FINALIZER], annotations={})

    with kube_api.outage(), caplog.at_level(logging.WARNING):
        await release(kube_api.custom_objects(), metadata)

    assert "Kubernetes API unreachable" in caplog.text
