"""StatusWriter against the Kubernetes API emulator: merge-patches of the status subresource."""

from __future__ import annotations

from typing import Any

import pytest
from support.kube.fixtures import KubeAPI

from external_identity.controller.statuses import StatusWriter
from external_identity.errors import StatusWriteError

API_VERSION = "externalidentity.dev/v1alpha1"
NAMESPACE = "payments"
IDENTITIES = "externalidentity.dev/v1alpha1/externalidentities"
BINDINGS = "externalidentity.dev/v1alpha1/serviceaccountbindings"


def seed(kube_api: KubeAPI) -> None:
    kube_api.ensure_namespace(NAMESPACE)
    kube_api.create({"apiVersion": API_VERSION, "kind": "ExternalIdentity",
                     "metadata": {"name": "prod-aws"}, "spec": {"provider": "aws-iam"}})
    kube_api.create({"apiVersion": API_VERSION, "kind": "ServiceAccountBinding",
                     "metadata": {"name": "payments-api", "namespace": NAMESPACE},
                     "spec": {"externalIdentityRef": {"name": "prod-aws"},
                              "serviceAccountId": "0f1a2b3c-4d5e-6789-abcd-ef0123456789",
                              "secret": {"name": "phase-service-token"}}})


@pytest.fixture
def writer(kube_api: KubeAPI) -> StatusWriter:
    seed(kube_api)
    return StatusWriter(kube_api.custom_objects())


def status_of(kube_api: KubeAPI, resource: str, namespace: str | None, name: str) -> Any:
    stored = kube_api.get(resource, namespace, name)
    assert stored is not None
    return stored.get("status")


async def test_a_binding_status_is_merged_into_what_it_says(
    kube_api: KubeAPI, writer: StatusWriter
) -> None:
    await writer.patch_binding(namespace=NAMESPACE, name="payments-api",
                               status={"ttl": 3600, "expiresAt": "2026-03-01T13:00:00Z"})
    await writer.patch_binding(namespace=NAMESPACE, name="payments-api", status={"ttl": 1800})

    status = status_of(kube_api, BINDINGS, NAMESPACE, "payments-api")
    assert status["ttl"] == 1800
    assert status["expiresAt"] == "2026-03-01T13:00:00Z"


async def test_an_identity_status_is_written_through_the_status_subresource(
    kube_api: KubeAPI, writer: StatusWriter
) -> None:
    kube_api.clear_calls()
    await writer.patch_identity(name="prod-aws", status={"bindings": 2, "readyBindings": 1})

    assert status_of(kube_api, IDENTITIES, None, "prod-aws") == {"bindings": 2, "readyBindings": 1}
    assert [(call.verb, call.rbac_resource) for call in kube_api.calls()] == [
        ("patch", "externalidentities/status")
    ]


async def test_an_object_already_gone_is_no_error(writer: StatusWriter) -> None:
    await writer.patch_identity(name="deleted", status={"bindings": 0})
    await writer.patch_binding(namespace=NAMESPACE, name="deleted", status={"ttl": 1})


async def test_a_refusal_is_a_status_write_error_naming_the_object_and_the_answer(
    kube_api: KubeAPI, writer: StatusWriter
) -> None:
    kube_api.refuse(
        f"patch /apis/externalidentity.dev/v1alpha1/namespaces/{NAMESPACE}"
        "/serviceaccountbindings/payments-api/status", 403, "Forbidden", "no")

    with pytest.raises(StatusWriteError) as caught:
        await writer.patch_binding(namespace=NAMESPACE, name="payments-api", status={"ttl": 1})

    assert str(caught.value) == (
        f"cannot update status of ServiceAccountBinding {NAMESPACE}/payments-api: "
        "HTTP 403 Forbidden"
    )


async def test_an_unreachable_api_is_a_status_write_error(
    kube_api: KubeAPI, writer: StatusWriter
) -> None:
    with kube_api.outage(), pytest.raises(StatusWriteError, match="Kubernetes API unreachable"):
        await writer.patch_identity(name="prod-aws", status={"bindings": 1})
