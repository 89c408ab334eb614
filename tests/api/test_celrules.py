"""The CEL subset of api.celrules agrees with cel-python, the reference tests/crds uses: every
x-kubernetes-validations rule the CRDs declare compiles in the subset and gives cel-python's
verdict on objects that keep and break it; CEL outside the subset is refused when compiled."""

from __future__ import annotations

import copy
import re
from collections.abc import Iterator, Mapping
from typing import Any

import celpy
import pytest

from external_identity.api.celrules import CelError, UnsupportedRule, compile_rule
from external_identity.api.crdschema import load_schemas


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


@pytest.mark.parametrize(
    ("rule", "expected"),
    [
        ("self.kind in ['Token', 'PhaseEnv']", True),
        ("self.kind in ['Opaque']", False),
        ("'token' in self.keys", True),
        ("has(self.keys) && !has(self.name)", True),
        ("self.count > 2 ? self.kind == 'Token' : false", True),
        ("self.count <= 2 ? true : self.kind == 'Opaque'", False),
        ("self.count >= 3 && self.count < 4 && self.count != 5", True),
        ("self.kind.startsWith('To') && size(self.kind) == 5", True),
        ("'it\\'s' == \"it's\"", True),
        ("self.count ? true : false", "error"),
        ("!self.count", "error"),
        ("self.kind.size() == 5 || self.count", True),
        ("self.kind.count == 1", "error"),
        ("self.kind.startsWith(1)", "error"),
        ("self.missing == null", "error"),
    ],
)
def test_the_subset_evaluates_as_cel_python_does(rule: str, expected: object) -> None:
    value = {"kind": "Token", "count": 3, "keys": {"token": "t"}}
    result = compile_rule(rule).evaluate(value)
    assert ("error" if isinstance(result, CelError) else result) == expected
    assert _celpy(rule, value, None) == expected


def test_in_finds_only_an_equal_value_of_the_same_type() -> None:
    # CEL's equality is not Python's: 1 is not true (cel-python 0.5 says it is, so no reference)
    value = {"one": 1, "kind": "Token"}
    assert compile_rule("self.one in [true]").evaluate(value) is False
    assert compile_rule("self.one in [true, 1]").evaluate(value) is True
    assert compile_rule("self.kind in [1, 'Token']").evaluate(value) is True


def test_a_rule_naming_old_self_is_a_transition_rule_that_compares_with_the_old_value() -> None:
    rule = compile_rule("self.name == oldSelf.name")
    assert rule.transition
    assert rule.evaluate({"name": "a"}, {"name": "a"}) is True
    assert rule.evaluate({"name": "b"}, {"name": "a"}) is False
    assert not compile_rule("self.name == 'a'").transition


def test_a_rule_that_is_not_a_bool_is_an_error_value() -> None:
    result = compile_rule("self.name").evaluate({"name": "a"})
    assert isinstance(result, CelError)
    assert result.message == "rule evaluated to str, not bool"


@pytest.mark.parametrize(
    ("rule", "message"),
    [
        ("self.name ==", "rule ends early"),
        ("self.name == 'a' 'b'", "unexpected \"'b'\""),
        ("has(self)", "has() needs a field selection"),
        ("self.name == 'a\\q'", "unsupported escape \\q"),
        ("self.name == 'a' # comment", "cannot read CEL at ' # comment'"),
        ("self.name.lowerAscii() == 'a'", "unsupported CEL method lowerAscii()"),
        ("size(self.a, self.b) == 1", "size() takes one argument"),
        ("request.name == 'a'", "unsupported CEL 'request'"),
    ],
)
def test_what_cannot_be_compiled_is_refused_saying_where(rule: str, message: str) -> None:
    with pytest.raises(UnsupportedRule, match=re.escape(message)):
        compile_rule(rule)
