"""Pod-level values: topology spread, extra volumes and mounts (a corporate CA bundle)."""

from __future__ import annotations

from typing import Any

import kubernetes_validate
import pytest

from .rendering import Manifests, Renderer, RenderError

KUBERNETES_VERSION = "1.30"
SELECTOR = {
    "app.kubernetes.io/name": "external-identity-operator",
    "app.kubernetes.io/instance": "eio",
}
ZONES = {
    "maxSkew": 1,
    "topologyKey": "topology.kubernetes.io/zone",
    "whenUnsatisfiable": "ScheduleAnyway",
}
CA_FILE = "/etc/ssl/corporate/ca-bundle.pem"


def _pod(manifests: Manifests) -> dict[str, Any]:
    return manifests.deployment["spec"]["template"]["spec"]


def _valid(*objects: dict[str, Any]) -> None:
    for obj in objects:
        kubernetes_validate.validate(obj, KUBERNETES_VERSION, strict=True)


def test_no_topology_spread_by_default(render: Renderer) -> None:
    assert "topologySpreadConstraints" not in _pod(render())


def test_a_constraint_without_a_selector_spreads_the_operator_pods(render: Renderer) -> None:
    manifests = render({"topologySpreadConstraints": [ZONES]})
    [constraint] = _pod(manifests)["topologySpreadConstraints"]
    assert constraint == {**ZONES, "labelSelector": {"matchLabels": SELECTOR}}
    selector = manifests.deployment["spec"]["selector"]["matchLabels"]
    assert constraint["labelSelector"]["matchLabels"] == selector
    _valid(manifests.deployment)


def test_a_constraint_keeps_its_own_selector(render: Renderer) -> None:
    own = {
        **ZONES,
        "topologyKey": "kubernetes.io/hostname",
        "whenUnsatisfiable": "DoNotSchedule",
        "labelSelector": {"matchLabels": {"team": "platform"}},
        "minDomains": 2,
    }
    manifests = render({"topologySpreadConstraints": [ZONES, own]})
    first, second = _pod(manifests)["topologySpreadConstraints"]
    assert first["labelSelector"] == {"matchLabels": SELECTOR}
    assert second == own
    _valid(manifests.deployment)


def test_the_ha_example_spreads_over_zones(render: Renderer) -> None:
    manifests = render(variant="ha")
    [constraint] = _pod(manifests)["topologySpreadConstraints"]
    assert constraint["topologyKey"] == "topology.kubernetes.io/zone"
    assert constraint["labelSelector"] == {"matchLabels": SELECTOR}


def test_no_extra_volumes_by_default(render: Renderer) -> None:
    manifests = render()
    assert [v["name"] for v in _pod(manifests)["volumes"]] == ["tmp"]
    assert [m["name"] for m in manifests.container["volumeMounts"]] == ["tmp"]


def test_extra_volumes_and_mounts_join_tmp(render: Renderer) -> None:
    volume = {"name": "corporate-ca", "configMap": {"name": "corporate-ca"}}
    mount = {"name": "corporate-ca", "mountPath": "/etc/ssl/corporate", "readOnly": True}
    manifests = render({"extraVolumes": [volume], "extraVolumeMounts": [mount]})
    volumes = _pod(manifests)["volumes"]
    assert volumes[0]["name"] == "tmp"
    assert volumes[1:] == [volume]
    mounts = manifests.container["volumeMounts"]
    assert mounts[0]["mountPath"] == "/tmp"
    assert mounts[1:] == [mount]
    _valid(manifests.deployment)


def test_the_ca_bundle_example_reaches_every_client(render: Renderer) -> None:
    manifests = render(variant="ca-bundle")
    pod = _pod(manifests)
    volumes = {volume["name"]: volume for volume in pod["volumes"]}
    config_map = manifests.one("ConfigMap", "corporate-ca")
    assert volumes["corporate-ca"]["configMap"]["name"] == config_map["metadata"]["name"]
    assert config_map["metadata"]["namespace"] == manifests.deployment["metadata"]["namespace"]
    [mount] = [m for m in manifests.container["volumeMounts"] if m["name"] == "corporate-ca"]
    assert mount["readOnly"] is True
    file = CA_FILE.removeprefix(mount["mountPath"] + "/")
    assert file in config_map["data"]
    env = {e["name"]: e.get("value") for e in manifests.container["env"]}
    for client in ("SSL_CERT_FILE", "AWS_CA_BUNDLE", "REQUESTS_CA_BUNDLE"):
        assert env[client] == CA_FILE
    _valid(manifests.deployment, config_map)


@pytest.mark.parametrize(
    "values, where",
    [
        ({"topologySpreadConstraints": [{"maxSkew": 1, "topologyKey": "zone"}]},
         "/topologySpreadConstraints/0"),
        ({"topologySpreadConstraints": [{**ZONES, "whenUnsatisfiable": "Sometimes"}]},
         "/topologySpreadConstraints/0/whenUnsatisfiable"),
        ({"topologySpreadConstraints": [{**ZONES, "maxSkew": 0}]},
         "/topologySpreadConstraints/0/maxSkew"),
        ({"topologySpreadConstraints": {"maxSkew": 1}}, "/topologySpreadConstraints"),
        ({"extraVolumes": [{"configMap": {"name": "ca"}}]}, "/extraVolumes/0"),
        ({"extraVolumes": [{"name": "Not_A_Volume", "emptyDir": {}}]}, "/extraVolumes/0/name"),
        ({"extraVolumeMounts": [{"name": "ca"}]}, "/extraVolumeMounts/0"),
        ({"extraVolumeMounts": [{"name": "ca", "mountPath": "relative"}]},
         "/extraVolumeMounts/0/mountPath"),
    ],
)
def test_helm_refuses_bad_pod_values(render: Renderer, values: dict[str, Any], where: str) -> None:
    with pytest.raises(RenderError) as refused:
        render.template(values)
    assert "schema" in str(refused.value)
    assert where in str(refused.value)
