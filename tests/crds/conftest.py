from __future__ import annotations

import pytest

from .schema import CRD_DIR, Crd, load_crds


@pytest.fixture(scope="session")
def crds() -> dict[str, Crd]:
    return load_crds(CRD_DIR)


@pytest.fixture(scope="session")
def identity_crd(crds: dict[str, Crd]) -> Crd:
    return crds["ExternalIdentity"]


@pytest.fixture(scope="session")
def binding_crd(crds: dict[str, Crd]) -> Crd:
    return crds["ServiceAccountBinding"]
