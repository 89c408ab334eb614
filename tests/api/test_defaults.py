"""One source of defaults: every ``default:`` in the CRDs is the operator's own default.

The API server fills CRD defaults in on write; objects it never defaulted (created before a
default existed, or read by ``explain -f`` from files) get the operator's. Both must agree.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from typing import Any

import pytest
from pydantic import BaseModel

from external_identity.api import defaults
from external_identity.api.specs import parse_binding, parse_identity
from tests.crds.schema import load_crds

#: The least spec of each kind that reaches every defaulted field.
MINIMAL: dict[str, list[dict[str, Any]]] = {
    "ExternalIdentity": [
        {"provider": "aws-iam"},
        {"provider": "azure", "azure": {"tenantId": "0f1a2b3c-4d5e-6789-abcd-ef0123456789"}},
    ],
    "ServiceAccountBinding": [{
        "externalIdentityRef": {"name": "prod-aws"},
        "serviceAccountId": "0f1a2b3c-4d5e-6789-abcd-ef0123456789",
        "secret": {"name": "phase-service-token"},
    }],
}


def _defaults(node: Mapping[str, Any], path: tuple[str, ...] = ()) -> Iterator[
        tuple[tuple[str, ...], Any]]:
    if "default" in node:
        yield path, node["default"]
    for name, child in (node.get("properties") or {}).items():
        yield from _defaults(child, (*path, name))


CRD_DEFAULTS = [
    (kind, path, default)
    for kind, crd in sorted(load_crds().items())
    for path, default in _defaults(crd.schema()["properties"]["spec"])
]


def _field(model: BaseModel, name: str) -> Any:
    for attribute, info in type(model).model_fields.items():
        if name in (info.alias, attribute):
            return getattr(model, attribute)
    raise AssertionError(f"{type(model).__name__} has no field {name!r}")


def _operator_value(kind: str, path: tuple[str, ...]) -> Any:
    parse = parse_identity if kind == "ExternalIdentity" else parse_binding
    for spec in MINIMAL[kind]:
        value: Any = parse(spec)
        for name in path:
            value = _field(value, name)
            if value is None:
                break
        if value is not None:
            return value
    raise AssertionError(f"no minimal {kind} reaches spec.{'.'.join(path)}")


def test_the_crds_declare_defaults() -> None:
    assert len(CRD_DEFAULTS) >= 10


@pytest.mark.parametrize(("kind", "path", "default"), CRD_DEFAULTS,
                         ids=[f"{kind}.spec.{'.'.join(path)}" for kind, path, _ in CRD_DEFAULTS])
def test_each_crd_default_is_the_operators_default(
    kind: str, path: tuple[str, ...], default: Any
) -> None:
    value = _operator_value(kind, path)
    if isinstance(value, BaseModel):
        assert default == {}, "an object's default is empty: its fields carry their own"
        assert value == type(value)(**({"name": "x"} if "name" in type(value).model_fields
                                         and type(value).model_fields["name"].is_required()
                                         else {}))
    else:
        assert value == default


def test_the_defaults_module_is_what_the_crds_say() -> None:
    declared = {(kind, ".".join(path)): default for kind, path, default in CRD_DEFAULTS}
    assert declared[("ExternalIdentity", "tokenService.host")] == defaults.TOKEN_SERVICE_HOST
    assert declared[("ExternalIdentity", "tokenService.pathPrefix")] == (
        defaults.CONSOLE_PATH_PREFIX)
    assert declared[("ExternalIdentity", "tokenService.timeoutSeconds")] == (
        defaults.TOKEN_SERVICE_TIMEOUT)
    assert declared[("ExternalIdentity", "defaultTTL")] == defaults.DEFAULT_TTL
    assert declared[("ExternalIdentity", "maxTTL")] == defaults.MAX_TTL
    assert declared[("ExternalIdentity", "azure.resource")] == defaults.AZURE_RESOURCE
    assert declared[("ExternalIdentity", "credentials.source")] == defaults.CREDENTIALS_SOURCE
    assert declared[("ServiceAccountBinding", "secret.keys.token")] == defaults.SECRET_TOKEN_KEY
