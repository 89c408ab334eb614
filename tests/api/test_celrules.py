"""explain's own schema check agrees with the reference checks of tests/crds (jsonschema and
cel-python): every x-kubernetes-validations rule the CRDs declare compiles in explain's CEL
subset and gives cel-python's verdict on objects that keep and break it."""

from __future__ import annotations

import copy
from collections.abc import Iterator, Mapping
from typing import Any

import celpy
import pytest

from external_identity.api.celrules import CelError, UnsupportedRule, compile_rule
from external_identity.api.crdschema import check_object, load_schemas
from tests.crds.objects import azure_identity, binding, identity
from tests.crds.schema import load_crds, validate
from tests.crds.test_invalid_objects import INVALID_BINDINGS, INVALID_IDENTITIES


def _rules(node: Mapping[str, Any], path: str = "spec") -> Iterator[tuple[str, str]]:
    for entry in node.get("x-kubernetes-validations") or []:
        yield path, entry["rule"]
    for name, sub in (node.get("properties") or {}).items():
        yield from _rules(sub, f"{path}.{name}")


RULES = [(kind, path, rule) for kind, crd in sorted(load_schemas().items())
         for path, rule in _rules(crd.schema)]

# Values each rule's node takes, keeping and breaking it (None: the field is absent).
SECRET_KEYS = [{}, {"token": "t"}, {"token": "t", "bearerToken": "t"},
               {"token": "a", "bearerToken": "b", "expiresAt": "c", "host": "d"},
               {"bearerToken": "x", "host": "x"}, {"expiresAt": "e", "host": "e"},
               {"token": "PHASE_HOST"}, {"host": "PHASE_SERVICE_TOKEN"}]
SAMPLES: dict[str, list[Any]] = {
    "spec": [
        {"provider": "aws-iam"}, {"provider": "azure"}, {"provider": "azure", "azure": {}},
        {"provider": "aws-iam", "azure": {}}, {"provider": "azure", "aws": {}, "azure": {}},
        {"provider": "aws-iam", "defaultTTL": 10, "maxTTL": 5},
        {"provider": "aws-iam", "defaultTTL": 5, "maxTTL": 5}, {"provider": "aws-iam", "maxTTL": 1},
    ],
    "spec.secret": [
        {"name": "a"}, {"name": "a", "type": "Opaque"}, {"name": "a", "type": "x.io/t"},
        *({"name": "a", "format": fmt, "keys": keys} for fmt in ("Token", "PhaseEnv")
          for keys in SECRET_KEYS),
        {"name": "a", "format": "PhaseEnv"},
    ],
    "spec.secret.type": ["Opaque", "kubernetes.io/tls", "example.com/kubernetes.io", ""],
    "spec.secret.keys": SECRET_KEYS,
}
OLD = {"spec.secret": [{"name": "a"}, {"name": "b", "type": "x.io/t"}, {"name": "a",
                                                                     "type": "Opaque"}]}


def _celpy(rule: str, value: Any, old: Any) -> bool | str:
    environment = celpy.Environment()
    activation = {"self": celpy.json_to_cel(value)}
    if old is not None:
        activation["oldSelf"] = celpy.json_to_cel(old)
    try:
        result = environment.program(environment.compile(rule)).evaluate(activation)
    except celpy.CELEvalError:
        return "error"
    return "error" if isinstance(result, celpy.CELEvalError) else bool(result)


@pytest.mark.parametrize(("kind", "path", "rule"), RULES, ids=[f"{k}:{p}:{r[:40]}" for k, p, r
                                                                 in RULES])
def test_every_crd_rule_gives_cel_pythons_verdict(kind: str, path: str, rule: str) -> None:
    compiled = compile_rule(rule)
    verdicts = set()
    for value in SAMPLES[path]:
        for old in OLD.get(path, [None]) if compiled.transition else [None]:
            ours = compiled.evaluate(copy.deepcopy(value), copy.deepcopy(old))
            mine = "error" if isinstance(ours, CelError) else ours
            assert mine == _celpy(rule, value, old), (value, old)
            verdicts.add(mine)
    assert {True, False} <= verdicts, "the samples should keep and break the rule"


def test_the_crds_declare_the_rules_the_samples_cover() -> None:
    assert {path for _, path, _ in RULES} == set(SAMPLES)
    assert len(RULES) == 9


@pytest.mark.parametrize(
    "rule",
    ["self.x + 1 > 2", "self.all(x, x > 0)", "self.matches('a')", "-self.x < 0", "self.x[0]",
     "self == 1.5"],
)
def test_cel_outside_the_subset_is_refused_when_compiled(rule: str) -> None:
    with pytest.raises(UnsupportedRule):
        compile_rule(rule)


@pytest.mark.parametrize(
    ("rule", "expected"),
    [("self.missing || true", True), ("true || self.missing", True),
     ("self.missing && false", False), ("self.missing == 1", "error"), ("'a' < 1", "error"),
     ("size(self.keys) == 1 && self.name.size() == 1", True),
     ("self.name.endsWith('a') && self.name.contains('a')", True)],
)
def test_errors_are_values_absorbed_by_the_logical_operators(rule: str, expected: object) -> None:
    value = {"name": "a", "keys": {"k": "v"}}
    result = compile_rule(rule).evaluate(value)
    assert ("error" if isinstance(result, CelError) else result) == expected
    assert _celpy(rule, value, None) == expected


CORPUS = [(name, obj) for name, obj, *_ in INVALID_IDENTITIES + INVALID_BINDINGS] + [
    ("identity", identity()), ("azure identity", azure_identity()), ("binding", binding()),
]


@pytest.mark.parametrize(("name", "obj"), CORPUS, ids=[name for name, _ in CORPUS])
def test_schema_check_agrees_with_the_reference_validator(name: str, obj: dict[str, Any]) -> None:
    reference = [e for e in validate(load_crds()[obj["kind"]], obj) if not e.startswith("status")]
    ours = check_object(obj).errors
    assert bool(ours) == bool(reference), (ours, reference)
    assert {e.split(":")[0] for e in ours} == {e.split(":")[0] for e in reference}
