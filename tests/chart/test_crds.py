"""The chart's CRDs: the repository's, rendered as templates so upgrades carry their changes.

Layout: ``files/crds/`` holds byte-identical copies of the repository's ``crds/`` (made by
``tools/sync-chart-crds.sh``) and ``templates/crds.yaml`` renders them when ``crds.enabled``,
annotated ``helm.sh/resource-policy: keep`` when ``crds.keep``. Helm's special ``crds/``
directory holds only kopf's peering CRDs, which the chart's own peering object needs installed
before the templates.
"""

from __future__ import annotations

import copy
import shutil
import subprocess
from pathlib import Path
from typing import Any

import kubernetes_validate
import pytest
import yaml

from .conftest import CHART, REPO
from .rendering import Manifests, Renderer, RenderError, release

SOURCE = REPO / "crds"
CHART_FILES = CHART / "files" / "crds"
HELM_CRDS = CHART / "crds"
CHART_OWNED = {"kopf-peerings.yaml"}
EXPECTED = {
    "externalidentities.externalidentity.dev.yaml",
    "serviceaccountbindings.externalidentity.dev.yaml",
}
OURS = {
    "externalidentities.externalidentity.dev",
    "serviceaccountbindings.externalidentity.dev",
}
KOPF = {"clusterkopfpeerings.kopf.dev", "kopfpeerings.kopf.dev"}
KEEP = "helm.sh/resource-policy"
SYNC = REPO / "tools" / "sync-chart-crds.sh"


def _names(directory: Path) -> set[str]:
    return {path.name for path in directory.glob("*.yaml")}


def _crds(manifests: Manifests) -> dict[str, dict[str, Any]]:
    return {crd["metadata"]["name"]: crd for crd in manifests.of_kind("CustomResourceDefinition")}


def _source(name: str) -> dict[str, Any]:
    return yaml.safe_load((SOURCE / f"{name}.yaml").read_text())


def test_the_repository_has_the_operators_crds() -> None:
    assert _names(SOURCE) >= EXPECTED


def test_the_chart_carries_exactly_the_repository_crds_in_files() -> None:
    assert _names(CHART_FILES) == _names(SOURCE)


def test_helms_crds_directory_holds_only_kopfs_peering_crds() -> None:
    assert {path.name for path in HELM_CRDS.iterdir()} == CHART_OWNED


@pytest.mark.parametrize("name", sorted(_names(SOURCE)))
def test_each_chart_crd_is_byte_identical_to_its_source(name: str) -> None:
    assert (CHART_FILES / name).read_bytes() == (SOURCE / name).read_bytes(), (
        f"helm/external-identity-operator/files/crds/{name} differs from crds/{name}: "
        "run tools/sync-chart-crds.sh"
    )


def _sync(root: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        ["bash", str(root / "tools" / "sync-chart-crds.sh"), *args],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


def test_the_sync_script_reports_the_chart_up_to_date() -> None:
    result = _sync(REPO, "--check")
    assert result.returncode == 0, result.stderr


def test_the_sync_script_moves_a_chart_of_the_old_layout_over(tmp_path: Path) -> None:
    """A working tree whose chart still has the CRDs in crds/ (Helm's install-once directory)."""
    (tmp_path / "tools").mkdir()
    shutil.copy(SYNC, tmp_path / "tools")
    shutil.copytree(SOURCE, tmp_path / "crds")
    chart = tmp_path / "helm" / "external-identity-operator"
    shutil.copytree(CHART, chart)
    shutil.rmtree(chart / "files" / "crds")
    for name in EXPECTED:
        shutil.copy(SOURCE / name, chart / "crds" / name)

    checked = _sync(tmp_path, "--check")
    assert checked.returncode == 1
    assert "stale in chart: helm/external-identity-operator/crds/" in checked.stderr
    assert "out of date in chart: files/crds/" in checked.stderr

    assert _sync(tmp_path).returncode == 0
    assert {path.name for path in (chart / "crds").iterdir()} == CHART_OWNED
    assert _names(chart / "files" / "crds") == _names(SOURCE)
    assert _sync(tmp_path, "--check").returncode == 0


def test_kopf_peering_crds_cover_both_scopes() -> None:
    crds = [
        doc for doc in yaml.safe_load_all((HELM_CRDS / "kopf-peerings.yaml").read_text()) if doc
    ]
    assert {(c["spec"]["names"]["kind"], c["spec"]["scope"], c["spec"]["group"]) for c in crds} == {
        ("ClusterKopfPeering", "Cluster", "kopf.dev"),
        ("KopfPeering", "Namespaced", "kopf.dev"),
    }
    for crd in crds:
        status = crd["spec"]["versions"][0]["schema"]["openAPIV3Schema"]["properties"]["status"]
        assert status["x-kubernetes-preserve-unknown-fields"] is True


def test_the_operators_crds_are_templates_and_kopfs_come_from_crds(render: Renderer) -> None:
    assert set(_crds(render())) == OURS
    assert set(_crds(render(include_crds=True))) == OURS | KOPF


def test_the_release_manifest_holds_the_operators_crds(helm: str) -> None:
    """What `helm upgrade` applies: the release manifest, which crds/ never enters."""
    assert set(_crds(release(helm, CHART).manifest)) == OURS


@pytest.mark.parametrize("name", sorted(OURS))
def test_each_rendered_crd_is_its_source_plus_helm_metadata(render: Renderer, name: str) -> None:
    rendered = _crds(render())[name]
    source = _source(name)
    assert rendered["spec"] == source["spec"]
    assert rendered["apiVersion"] == source["apiVersion"]
    metadata = rendered["metadata"]
    assert metadata["name"] == name
    assert metadata["labels"].items() >= source["metadata"].get("labels", {}).items()
    assert metadata["labels"]["app.kubernetes.io/managed-by"] == "Helm"
    assert metadata["labels"]["app.kubernetes.io/instance"] == "eio"
    kubernetes_validate.validate(rendered, "1.30", strict=True)


def test_crds_are_kept_by_default(render: Renderer) -> None:
    for crd in _crds(render()).values():
        assert crd["metadata"]["annotations"] == {KEEP: "keep"}


def test_crds_keep_false_lets_helm_delete_them(render: Renderer) -> None:
    crds = _crds(render({"crds": {"keep": False}}))
    assert set(crds) == OURS
    for crd in crds.values():
        assert KEEP not in crd["metadata"].get("annotations", {})


def test_crds_enabled_false_leaves_them_to_you(render: Renderer) -> None:
    assert _crds(render({"crds": {"enabled": False}})) == {}
    assert set(_crds(render({"crds": {"enabled": False}}, include_crds=True))) == KOPF


@pytest.mark.parametrize(
    "values, where",
    [
        ({"crds": {"enabled": "yes"}}, "/crds/enabled"),
        ({"crds": {"keep": 1}}, "/crds/keep"),
        ({"crds": {"install": True}}, "install"),
    ],
)
def test_helm_refuses_bad_crd_values(render: Renderer, values: dict[str, Any], where: str) -> None:
    with pytest.raises(RenderError) as refused:
        render.template(values)
    assert where in str(refused.value)


def _chart_copy(tmp_path: Path, name: str) -> Path:
    chart = tmp_path / name / "external-identity-operator"
    shutil.copytree(CHART, chart)
    return chart


def _with_new_binding_field(crd: dict[str, Any]) -> dict[str, Any]:
    changed = copy.deepcopy(crd)
    spec = changed["spec"]["versions"][0]["schema"]["openAPIV3Schema"]["properties"]["spec"]
    spec["properties"]["upgradeProbe"] = {
        "type": "string",
        "maxLength": 16,
        "description": "A field the next chart version adds.",
    }
    return changed


def test_an_upgrade_applies_a_changed_crd_schema(helm: str, tmp_path: Path) -> None:
    """Chart version 2 changes a CRD: the manifest `helm upgrade` applies has the new schema.

    With the CRD in Helm's crds/ directory instead (the layout before), the same change never
    reaches the manifest: Helm would install it on a fresh install only.
    """
    name = "serviceaccountbindings.externalidentity.dev"
    old = release(helm, CHART).manifest
    old_spec = _crds(old)[name]["spec"]["versions"][0]["schema"]["openAPIV3Schema"]
    assert "upgradeProbe" not in old_spec["properties"]["spec"]["properties"]

    chart = _chart_copy(tmp_path, "v2")
    path = chart / "files" / "crds" / f"{name}.yaml"
    path.write_text(yaml.safe_dump(_with_new_binding_field(yaml.safe_load(path.read_text()))))
    new = release(helm, chart).manifest
    new_spec = _crds(new)[name]["spec"]["versions"][0]["schema"]["openAPIV3Schema"]
    assert new_spec["properties"]["spec"]["properties"]["upgradeProbe"]["maxLength"] == 16
    assert _crds(new)[name]["metadata"]["annotations"] == {KEEP: "keep"}

    old_layout = _chart_copy(tmp_path, "crds-dir")
    (old_layout / "files" / "crds" / f"{name}.yaml").unlink()
    (old_layout / "crds" / f"{name}.yaml").write_text(path.read_text())
    assert name not in _crds(release(helm, old_layout).manifest)


def test_a_file_in_files_crds_that_is_no_crd_is_refused(render: Renderer, tmp_path: Path) -> None:
    chart = _chart_copy(tmp_path, "broken")
    (chart / "files" / "crds" / "zz-not-a-crd.yaml").write_text("kind: ConfigMap\n")
    with pytest.raises(RenderError) as refused:
        Renderer(helm=render.helm, chart=chart).template()
    assert "files/crds/zz-not-a-crd.yaml must hold one CustomResourceDefinition" in str(
        refused.value
    )


def test_the_packaged_chart_carries_and_renders_the_crds(helm: str, tmp_path: Path) -> None:
    """`helm package` keeps files/crds/ (nothing in .helmignore drops it)."""
    subprocess.run(
        [helm, "package", str(CHART), "--destination", str(tmp_path)],
        capture_output=True, text=True, timeout=120, check=True,
    )
    [package] = tmp_path.glob("external-identity-operator-*.tgz")
    assert set(_crds(release(helm, package).manifest)) == OURS
