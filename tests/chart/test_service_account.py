"""The operator's ServiceAccount carries the cloud workload identity of each variant."""

from __future__ import annotations

from .rendering import Renderer

IRSA = "eks.amazonaws.com/role-arn"
AZURE_CLIENT = "azure.workload.identity/client-id"
AZURE_TENANT = "azure.workload.identity/tenant-id"
AZURE_USE = "azure.workload.identity/use"


def _annotations(render: Renderer, **kwargs: object) -> dict[str, str]:
    account = render(**kwargs).one("ServiceAccount")  # type: ignore[arg-type]
    return account["metadata"].get("annotations", {})


def _pod_labels(render: Renderer, **kwargs: object) -> dict[str, str]:
    return render(**kwargs).deployment["spec"]["template"]["metadata"]["labels"]  # type: ignore[arg-type]


def test_no_cloud_annotations_by_default(render: Renderer) -> None:
    assert _annotations(render) == {}
    assert AZURE_USE not in _pod_labels(render)


def test_irsa_annotates_the_role_arn(render: Renderer) -> None:
    assert _annotations(render, variant="irsa") == {
        IRSA: "arn:aws:iam::123456789012:role/external-identity-operator"
    }
    assert AZURE_USE not in _pod_labels(render, variant="irsa")


def test_pod_identity_needs_nothing_on_the_service_account(render: Renderer) -> None:
    assert _annotations(render, variant="pod-identity") == {}


def test_azure_workload_identity_annotates_and_labels(render: Renderer) -> None:
    assert _annotations(render, variant="azure") == {
        AZURE_CLIENT: "0b7c4e2a-1f3d-4c5e-8a9b-0c1d2e3f4a5b",
        AZURE_TENANT: "72f988bf-86f1-41af-91ab-2d7cd011db47",
    }
    assert _pod_labels(render, variant="azure")[AZURE_USE] == "true"


def test_the_azure_tenant_is_optional(render: Renderer) -> None:
    client = "0b7c4e2a-1f3d-4c5e-8a9b-0c1d2e3f4a5b"
    annotations = _annotations(render, values={"cloud": {"azure": {"clientId": client}}})
    assert annotations == {AZURE_CLIENT: client}


def test_extra_annotations_and_labels_are_kept(render: Renderer) -> None:
    account = render(variant="customised").one("ServiceAccount")
    assert account["metadata"]["name"] == "eio-operator"
    assert account["metadata"]["annotations"] == {"example.com/owner": "platform"}
    assert account["metadata"]["labels"]["example.com/team"] == "platform"


def test_an_existing_service_account_can_be_used(render: Renderer) -> None:
    manifests = render({"serviceAccount": {"create": False, "name": "pre-made"}})
    assert manifests.of_kind("ServiceAccount") == []
    assert manifests.deployment["spec"]["template"]["spec"]["serviceAccountName"] == "pre-made"
    assert manifests.one("ClusterRoleBinding")["subjects"][0]["name"] == "pre-made"
