"""Kubernetes label selectors, as ``--binding-selector`` takes them: parsed and matched. Pure.

The equality- and set-based forms the API server accepts in ``labelSelector``, comma-joined:
``k=v``, ``k==v``, ``k!=v``, ``k`` (has the label), ``!k`` (has not), ``k in (a,b)`` and
``k notin (a,b)``. A ``!=`` or ``notin`` requirement also matches objects without the label.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass

__all__ = ["LabelSelector", "parse_selector"]

_KEY = re.compile(r"^([a-z0-9]([-a-z0-9.]{0,251}[a-z0-9])?/)?[A-Za-z0-9]([-A-Za-z0-9_.]{0,61}"
                  r"[A-Za-z0-9])?$")
_VALUE = re.compile(r"^([A-Za-z0-9]([-A-Za-z0-9_.]{0,61}[A-Za-z0-9])?)?$")
_SET = re.compile(r"^(?P<key>\S+)\s+(?P<op>in|notin)\s*\((?P<values>[^()]*)\)$")
_EQUALITY = re.compile(r"^(?P<key>[^=!\s]+)\s*(?P<op>==|!=|=)\s*(?P<value>\S*)$")


@dataclass(frozen=True)
class Requirement:
    key: str
    #: ``in``, ``notin``, ``exists`` or ``!exists``; ``=``, ``==`` and ``!=`` become set forms.
    operator: str
    values: frozenset[str] = frozenset()

    def matches(self, labels: Mapping[str, str]) -> bool:
        match self.operator:
            case "in":
                return self.key in labels and labels[self.key] in self.values
            case "notin":
                return self.key not in labels or labels[self.key] not in self.values
            case "exists":
                return self.key in labels
            case _:
                return self.key not in labels


@dataclass(frozen=True)
class LabelSelector:
    requirements: tuple[Requirement, ...]

    def matches(self, labels: Mapping[str, str]) -> bool:
        """Every requirement holds (an empty selector matches everything)."""
        return all(requirement.matches(labels) for requirement in self.requirements)


def parse_selector(text: str) -> LabelSelector:
    """The selector ``text`` spells; ValueError naming the part that is not one."""
    return LabelSelector(tuple(_requirement(term) for term in _terms(text) if term))


def _terms(text: str) -> list[str]:
    """``text`` split at the commas outside parentheses, each stripped."""
    terms: list[str] = []
    current: list[str] = []
    depth = 0
    for char in text:
        if char == "," and depth == 0:
            terms.append("".join(current).strip())
            current = []
            continue
        depth += {"(": 1, ")": -1}.get(char, 0)
        if depth not in (0, 1):
            raise ValueError(f"label selector {text!r}: unbalanced parentheses")
        current.append(char)
    if depth:
        raise ValueError(f"label selector {text!r}: unbalanced parentheses")
    terms.append("".join(current).strip())
    return terms


def _requirement(term: str) -> Requirement:
    if found := _SET.match(term):
        values = [value.strip() for value in found["values"].split(",")]
        return Requirement(_key(found["key"], term), found["op"],
                           frozenset(_value(value, term) for value in values))
    if found := _EQUALITY.match(term):
        operator = "notin" if found["op"] == "!=" else "in"
        return Requirement(_key(found["key"], term), operator,
                           frozenset({_value(found["value"], term)}))
    if term.startswith("!"):
        return Requirement(_key(term[1:].strip(), term), "!exists")
    return Requirement(_key(term, term), "exists")


def _key(key: str, term: str) -> str:
    if not _KEY.match(key):
        raise ValueError(f"label selector term {term!r}: {key!r} is not a label key")
    return key


def _value(value: str, term: str) -> str:
    if not _VALUE.match(value):
        raise ValueError(f"label selector term {term!r}: {value!r} is not a label value")
    return value
