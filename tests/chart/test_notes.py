"""NOTES.txt tells the user what to do next."""

from __future__ import annotations

from .conftest import CHART
from .rendering import notes


def test_the_notes_lead_to_a_first_binding(helm: str) -> None:
    text = notes(helm, CHART)
    assert "kind: ExternalIdentity" in text
    assert "kind: ServiceAccountBinding" in text
    assert "kubectl get sab -A" in text
    assert "rollout status deployment/eio-external-identity-operator" in text
    assert "serving all namespaces" in text


def test_the_notes_describe_restricted_and_ha_installs(helm: str) -> None:
    text = notes(helm, CHART, "replicaCount=2", "watchNamespaces={a,b}")
    assert "serving namespaces: a, b" in text
    assert '2 replicas share the kopf peering "eio-external-identity-operator"' in text


def test_the_notes_point_pod_identity_users_at_an_association(helm: str) -> None:
    assert "EKS Pod" in notes(helm, CHART)
    assert "EKS Pod" not in notes(
        helm, CHART, "cloud.aws.irsaRoleArn=arn:aws:iam::123456789012:role/r"
    )
