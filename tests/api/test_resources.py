"""The names the operator calls its resources by are the ones the CRDs declare."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml

from external_identity.api.resources import BINDING_KIND, BINDINGS, GROUP, IDENTITIES, VERSION

CRD_DIR = Path(__file__).resolve().parents[2] / "crds"


def crd(plural: str) -> dict[str, Any]:
    loaded: dict[str, Any] = yaml.safe_load((CRD_DIR / f"{plural}.{GROUP}.yaml").read_text())
    return loaded


@pytest.mark.parametrize(
    ("plural", "kind", "scope"),
    [(BINDINGS, BINDING_KIND, "Namespaced"), (IDENTITIES, "ExternalIdentity", "Cluster")],
)
def test_each_resource_is_served_by_a_crd_of_that_group_plural_kind_and_version(
    plural: str, kind: str, scope: str
) -> None:
    spec = crd(plural)["spec"]
    assert (spec["group"], spec["names"]["plural"], spec["names"]["kind"], spec["scope"]) == (
        GROUP, plural, kind, scope
    )
    assert VERSION in [version["name"] for version in spec["versions"] if version["served"]]
    assert next(v for v in spec["versions"] if v["storage"])["name"] == VERSION
