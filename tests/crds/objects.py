"""Minimal valid custom resources, and helpers to bend them into invalid ones."""

from __future__ import annotations

import copy
from typing import Any

API_VERSION = "externalidentity.dev/v1alpha1"
SERVICE_ACCOUNT_ID = "0f1a2b3c-4d5e-6789-abcd-ef0123456789"
TENANT_ID = "11111111-2222-3333-4444-555555555555"


def identity(**spec: Any) -> dict[str, Any]:
    """An AWS ExternalIdentity with only the required fields, plus `spec` overrides."""
    return {
        "apiVersion": API_VERSION,
        "kind": "ExternalIdentity",
        "metadata": {"name": "test-identity"},
        "spec": {"provider": "aws-iam", **spec},
    }


def azure_identity(**spec: Any) -> dict[str, Any]:
    return identity(provider="azure", azure={"tenantId": TENANT_ID}, **spec)


def binding(**spec: Any) -> dict[str, Any]:
    """A ServiceAccountBinding with only the required fields, plus `spec` overrides."""
    return {
        "apiVersion": API_VERSION,
        "kind": "ServiceAccountBinding",
        "metadata": {"name": "test-binding", "namespace": "payments"},
        "spec": {
            "externalIdentityRef": {"name": "test-identity"},
            "serviceAccountId": SERVICE_ACCOUNT_ID,
            "secret": {"name": "phase-service-token"},
            **spec,
        },
    }


def condition(**fields: Any) -> dict[str, Any]:
    return {
        "type": "Ready",
        "status": "True",
        "reason": "TokenIssued",
        "message": "token issued",
        "lastTransitionTime": "2024-05-01T12:00:00Z",
        "observedGeneration": 1,
        **fields,
    }


def with_field(obj: dict[str, Any], path: str, value: Any) -> dict[str, Any]:
    """A copy of `obj` with the dotted `path` set to `value` (parents created)."""
    result = copy.deepcopy(obj)
    *parents, last = path.split(".")
    node = result
    for part in parents:
        node = node.setdefault(part, {})
    node[last] = value
    return result


def without_field(obj: dict[str, Any], path: str) -> dict[str, Any]:
    """A copy of `obj` with the dotted `path` removed."""
    result = copy.deepcopy(obj)
    *parents, last = path.split(".")
    node = result
    for part in parents:
        node = node[part]
    del node[last]
    return result
