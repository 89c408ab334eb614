"""The chart installs the repository's CRDs, byte for byte, plus kopf's peering CRDs."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest
import yaml

from .conftest import CHART, REPO
from .rendering import Renderer

SOURCE = REPO / "crds"
CHART_CRDS = CHART / "crds"
CHART_OWNED = {"kopf-peerings.yaml"}
EXPECTED = {
    "externalidentities.externalidentity.dev.yaml",
    "serviceaccountbindings.externalidentity.dev.yaml",
}


def _names(directory: Path) -> set[str]:
    return {path.name for path in directory.glob("*.yaml")}


def test_the_repository_has_the_operators_crds() -> None:
    assert _names(SOURCE) >= EXPECTED


def test_the_chart_ships_exactly_the_repository_crds_and_kopf_peerings() -> None:
    assert _names(CHART_CRDS) == _names(SOURCE) | CHART_OWNED


@pytest.mark.parametrize("name", sorted(_names(SOURCE)))
def test_each_chart_crd_is_byte_identical_to_its_source(name: str) -> None:
    assert (CHART_CRDS / name).read_bytes() == (SOURCE / name).read_bytes(), (
        f"helm/external-identity-operator/crds/{name} differs from crds/{name}: "
        "run tools/sync-chart-crds.sh"
    )


def test_the_sync_script_reports_the_chart_up_to_date() -> None:
    result = subprocess.run(
        ["bash", str(REPO / "tools" / "sync-chart-crds.sh"), "--check"],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 0, result.stderr


def test_kopf_peering_crds_cover_both_scopes() -> None:
    crds = [
        doc for doc in yaml.safe_load_all((CHART_CRDS / "kopf-peerings.yaml").read_text()) if doc
    ]
    assert {(c["spec"]["names"]["kind"], c["spec"]["scope"], c["spec"]["group"]) for c in crds} == {
        ("ClusterKopfPeering", "Cluster", "kopf.dev"),
        ("KopfPeering", "Namespaced", "kopf.dev"),
    }
    for crd in crds:
        status = crd["spec"]["versions"][0]["schema"]["openAPIV3Schema"]["properties"]["status"]
        assert status["x-kubernetes-preserve-unknown-fields"] is True


def test_crds_are_rendered_only_from_the_crds_directory(render: Renderer) -> None:
    without = render()
    with_crds = render(include_crds=True)
    assert without.of_kind("CustomResourceDefinition") == []
    rendered = {crd["metadata"]["name"] for crd in with_crds.of_kind("CustomResourceDefinition")}
    assert {
        "externalidentities.externalidentity.dev",
        "serviceaccountbindings.externalidentity.dev",
        "clusterkopfpeerings.kopf.dev",
        "kopfpeerings.kopf.dev",
    } <= rendered
