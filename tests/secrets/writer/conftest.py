"""Fixtures for the secret writer tests: a writer against the emulated Kubernetes API.

``kube_api`` comes from support/kube/fixtures.py, registered suite-wide by tests/conftest.py.
"""

from __future__ import annotations

import pytest
from support.kube.fixtures import KubeAPI

from external_identity.secrets.data import OwnerReference, SecretTarget
from external_identity.secrets.writer import SecretWriter
from tests.secrets.writer.samples import NAMESPACE


@pytest.fixture
def namespace(kube_api: KubeAPI) -> str:
    kube_api.ensure_namespace(NAMESPACE)
    return NAMESPACE


@pytest.fixture
def writer(kube_api: KubeAPI) -> SecretWriter:
    return SecretWriter(kube_api.core_v1())


@pytest.fixture
def target(namespace: str) -> SecretTarget:
    return SecretTarget(
        namespace=namespace,
        name="phase-service-token",
        owner_key="5b0c6a9e-0000-4000-8000-000000000001",
        identity="prod-aws",
        owner=OwnerReference(
            api_version="externalidentity.dev/v1alpha1",
            kind="ServiceAccountBinding",
            name="payments-api",
            uid="5b0c6a9e-0000-4000-8000-000000000001",
        ),
    )
