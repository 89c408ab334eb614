"""values.yaml, values.schema.json and the chart README agree, and bad values fail."""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from typing import Any

import jsonschema
import pytest
import yaml

from .conftest import CHART
from .rendering import Renderer, RenderError

VALUES = yaml.safe_load((CHART / "values.yaml").read_text())
SCHEMA = json.loads((CHART / "values.schema.json").read_text())
README = (CHART / "README.md").read_text()
VALUES_SECTION = README.split("\n## Values\n", 1)[-1].split("\n## ", 1)[0]


def _keys(values: dict[str, Any], prefix: str = "") -> Iterator[str]:
    """Dotted paths of every leaf value; free-form maps (securityContext, ...) are leaves."""
    for key, value in values.items():
        path = f"{prefix}{key}"
        if isinstance(value, dict) and value and not _free_form(path):
            yield from _keys(value, f"{path}.")
        else:
            yield path


def _free_form(path: str) -> bool:
    node = SCHEMA
    for part in path.split("."):
        node = node["properties"][part]
    return "additionalProperties" not in node or node["additionalProperties"] is not False


ALL_KEYS = list(_keys(VALUES))

BAD_VALUES = {
    "negative replicas": ({"replicaCount": -1}, "/replicaCount"),
    "replicas not a number": ({"replicaCount": "three"}, "/replicaCount"),
    "unknown log format": ({"operator": {"logFormat": "xml"}}, "/operator/logFormat"),
    "unknown log level": ({"operator": {"logLevel": "verbose"}}, "/operator/logLevel"),
    "IRSA ARN with a short account": (
        {"cloud": {"aws": {"irsaRoleArn": "arn:aws:iam::1234:role/x"}}},
        "/cloud/aws/irsaRoleArn",
    ),
    "IRSA ARN of a user": (
        {"cloud": {"aws": {"irsaRoleArn": "arn:aws:iam::123456789012:user/x"}}},
        "/cloud/aws/irsaRoleArn",
    ),
    "Azure client id not a UUID": (
        {"cloud": {"azure": {"clientId": "my-app"}}},
        "/cloud/azure/clientId",
    ),
    "unknown top-level key": ({"replicas": 2}, "replicas"),
    "unknown nested key": ({"operator": {"refreshPercentage": 50}}, "refreshPercentage"),
    "refresh percent out of range": (
        {"operator": {"refreshPercent": 100}},
        "/operator/refreshPercent",
    ),
    "min remaining seconds above an hour": (
        {"operator": {"minRemainingSeconds": 3601}},
        "/operator/minRemainingSeconds",
    ),
    "negative min remaining seconds": (
        {"operator": {"minRemainingSeconds": -1}},
        "/operator/minRemainingSeconds",
    ),
    "min remaining seconds not an integer": (
        {"operator": {"minRemainingSeconds": "10s"}},
        "/operator/minRemainingSeconds",
    ),
    "bad watch namespace": ({"watchNamespaces": ["Not_A_Namespace"]}, "/watchNamespaces/0"),
    "bad pull policy": ({"image": {"pullPolicy": "Sometimes"}}, "/image/pullPolicy"),
}


def test_the_defaults_satisfy_the_schema() -> None:
    jsonschema.Draft7Validator.check_schema(SCHEMA)
    jsonschema.validate(VALUES, SCHEMA)


@pytest.mark.parametrize("values, where", BAD_VALUES.values(), ids=BAD_VALUES.keys())
def test_helm_refuses_bad_values(render: Renderer, values: dict[str, Any], where: str) -> None:
    with pytest.raises(RenderError) as refused:
        render.template(values)
    assert "schema" in str(refused.value)
    assert where in str(refused.value)


def test_valid_arns_of_other_partitions_are_accepted(render: Renderer) -> None:
    arn = "arn:aws-cn:iam::123456789012:role/path/to/role"
    manifests = render({"cloud": {"aws": {"irsaRoleArn": arn}}})
    assert (
        manifests.one("ServiceAccount")["metadata"]["annotations"]["eks.amazonaws.com/role-arn"]
        == arn
    )


def test_every_values_key_is_in_the_schema() -> None:
    for path in ALL_KEYS:
        node = SCHEMA
        for part in path.split("."):
            if "properties" not in node:
                break  # inside a free-form map
            assert part in node["properties"], f"{path} is not in values.schema.json"
            node = node["properties"][part]


def test_every_schema_property_has_a_default_in_values() -> None:
    def walk(node: dict[str, Any], values: dict[str, Any], prefix: str) -> None:
        if node.get("additionalProperties") is not False:
            return
        for key, child in node.get("properties", {}).items():
            if key == "global":
                continue
            assert key in values, f"{prefix}{key} is in the schema but has no default"
            if isinstance(values[key], dict):
                walk(child, values[key], f"{prefix}{key}.")

    walk(SCHEMA, VALUES, "")


@pytest.mark.parametrize("path", ALL_KEYS)
def test_the_readme_documents_every_value(path: str) -> None:
    assert re.search(rf"^\| `{re.escape(path)}` \|", VALUES_SECTION, re.MULTILINE), (
        f"`{path}` has no row in helm/external-identity-operator/README.md"
    )


def test_the_readme_documents_no_value_that_does_not_exist() -> None:
    assert "\n## Values\n" in README
    documented = re.findall(r"^\| `([A-Za-z0-9_.]+)` \|", VALUES_SECTION, re.MULTILINE)
    assert documented
    assert sorted(set(documented) - set(ALL_KEYS)) == []
