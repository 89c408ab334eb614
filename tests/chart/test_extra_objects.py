"""extraObjects: more manifests installed with the release, each rendered with tpl."""

from __future__ import annotations

from typing import Any

import kubernetes_validate
import pytest

from .rendering import RELEASE_NAMESPACE, Renderer, RenderError

CONFIG_MAP = {
    "apiVersion": "v1",
    "kind": "ConfigMap",
    "metadata": {
        "name": '{{ include "eio.fullname" . }}-extra',
        "namespace": "{{ .Release.Namespace }}",
    },
    "data": {"serviceAccount": '{{ include "eio.serviceAccountName" . }}'},
}
LIMIT_RANGE_TEXT = """\
apiVersion: v1
kind: LimitRange
metadata:
  name: {{ .Release.Name }}-limits
  namespace: {{ .Release.Namespace }}
spec:
  limits:
    - type: Container
      max:
        memory: {{ .Values.resources.limits.memory }}
"""


def test_none_by_default(render: Renderer) -> None:
    kinds = {obj["kind"] for obj in render().objects}
    assert not kinds & {"ConfigMap", "LimitRange"}


def test_an_object_is_rendered_with_tpl(render: Renderer) -> None:
    manifests = render({"extraObjects": [CONFIG_MAP]})
    config_map = manifests.one("ConfigMap")
    assert config_map["metadata"] == {
        "name": "eio-external-identity-operator-extra",
        "namespace": RELEASE_NAMESPACE,
    }
    assert config_map["data"] == {"serviceAccount": "eio-external-identity-operator"}
    kubernetes_validate.validate(config_map, "1.30", strict=True)


def test_a_yaml_string_is_rendered_with_tpl(render: Renderer) -> None:
    manifests = render({"extraObjects": [LIMIT_RANGE_TEXT, CONFIG_MAP]})
    limits = manifests.one("LimitRange")
    assert limits["metadata"] == {"name": "eio-limits", "namespace": RELEASE_NAMESPACE}
    assert limits["spec"]["limits"][0]["max"] == {"memory": "512Mi"}
    assert manifests.one("ConfigMap")["metadata"]["name"] == "eio-external-identity-operator-extra"
    for obj in (limits, manifests.one("ConfigMap")):
        kubernetes_validate.validate(obj, "1.30", strict=True)


@pytest.mark.parametrize(
    "values, where",
    [
        ({"extraObjects": [{"metadata": {"name": "x"}}]}, "/extraObjects/0"),
        ({"extraObjects": [""]}, "/extraObjects/0"),
        ({"extraObjects": [3]}, "/extraObjects/0"),
        ({"extraObjects": {"kind": "ConfigMap"}}, "/extraObjects"),
    ],
)
def test_helm_refuses_what_is_no_manifest(
    render: Renderer, values: dict[str, Any], where: str
) -> None:
    with pytest.raises(RenderError) as refused:
        render.template(values)
    assert "schema" in str(refused.value)
    assert where in str(refused.value)
