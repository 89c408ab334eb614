"""The subset of CEL our CRDs' ``x-kubernetes-validations`` rules are written in. No I/O.

The CLI checks objects against the CRDs without a cluster, so it evaluates the rules'
own text: ``self``/``oldSelf``, field selection, ``has()``, ``! && || ?:``, comparisons,
``in`` on list literals, string and int literals, and the string methods ``startsWith``,
``endsWith``, ``contains`` plus ``size()``. Anything else is refused when the rule is
compiled (:class:`UnsupportedRule`), never guessed at; a test compiles every rule the CRDs
declare and compares each outcome with a full CEL implementation.

As in CEL, errors are values: ``true || <error>`` is true and ``false && <error>`` is
false, in either order, and selecting an absent field is an error, not ``null``.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from external_identity.errors import ConfigurationError

__all__ = ["CelError", "Rule", "UnsupportedRule", "compile_rule"]

_TOKEN = re.compile(
    r"\s*(?:(?P<int>\d+)(?![\w.])|(?P<str>'(?:[^'\\\n]|\\.)*'|\"(?:[^\"\\\n]|\\.)*\")"
    r"|(?P<name>[A-Za-z_]\w*)|(?P<op>\|\||&&|==|!=|<=|>=|[<>!?:.,()\[\]]))"
)
_ESCAPES = {"\\": "\\", "'": "'", '"': '"', "n": "\n", "t": "\t", "r": "\r"}
_VARIABLES = frozenset({"self", "oldSelf"})
_METHODS = frozenset({"startsWith", "endsWith", "contains", "size"})


class UnsupportedRule(ConfigurationError):
    """A rule uses CEL this evaluator does not implement (or is not CEL at all)."""


@dataclass(frozen=True)
class CelError:
    """An evaluation error, carried as a value the way CEL does."""

    message: str


Value = Any
Node = Callable[[Mapping[str, Value]], Value]


def _same_kind(left: Value, right: Value) -> bool:
    def kind(value: Value) -> type:
        return bool if isinstance(value, bool) else type(value)

    return kind(left) is kind(right)


def _equal(left: Value, right: Value) -> Value:
    if not _same_kind(left, right):
        return CelError(f"no such overload: {type(left).__name__} == {type(right).__name__}")
    return bool(left == right)


def _compare(op: str, left: Value, right: Value) -> Value:
    if op in ("==", "!="):
        same = _equal(left, right)
        return same if isinstance(same, CelError) or op == "==" else not same
    if op == "in":
        if isinstance(right, list):
            return any(_equal(left, item) is True for item in right)
        if isinstance(right, Mapping):
            return left in right
        return CelError(f"no such overload: in {type(right).__name__}")
    if not _same_kind(left, right) or isinstance(left, bool | Mapping | list | type(None)):
        return CelError(f"no such overload: {type(left).__name__} {op} {type(right).__name__}")
    return {"<": left < right, "<=": left <= right, ">": left > right, ">=": left >= right}[op]


def _call(method: str, target: Value, args: list[Value]) -> Value:
    if method == "size" and not args and isinstance(target, str | list | Mapping):
        return len(target)
    if method != "size" and len(args) == 1 and isinstance(target, str) and isinstance(
        args[0], str
    ):
        return {"startsWith": target.startswith, "endsWith": target.endswith,
                "contains": target.__contains__}[method](args[0])
    return CelError(f"no such overload: {type(target).__name__}.{method}")


class _Parser:
    """Recursive descent over CEL's precedence: ?: then || then && then relations."""

    def __init__(self, text: str) -> None:
        self.text = text
        self.tokens: list[tuple[str, str]] = []
        position = 0
        while position < len(text.rstrip()):
            match = _TOKEN.match(text, position)
            if match is None or match.lastgroup is None:
                raise UnsupportedRule(f"cannot read CEL at {text[position:position + 20]!r}")
            self.tokens.append((match.lastgroup, match.group(match.lastgroup)))
            position = match.end()
        self.index = 0

    def peek(self) -> str | None:
        return self.tokens[self.index][1] if self.index < len(self.tokens) else None

    def take(self, expected: str | None = None) -> tuple[str, str]:
        if self.index >= len(self.tokens):
            raise UnsupportedRule(f"rule ends early: {self.text!r}")
        token = self.tokens[self.index]
        if expected is not None and token[1] != expected:
            raise UnsupportedRule(f"expected {expected!r}, found {token[1]!r} in {self.text!r}")
        self.index += 1
        return token

    def parse(self) -> Node:
        node = self.ternary()
        if self.peek() is not None:
            raise UnsupportedRule(f"unexpected {self.peek()!r} in {self.text!r}")
        return node

    def ternary(self) -> Node:
        condition = self.logical("||")
        if self.peek() != "?":
            return condition
        self.take("?")
        then = self.ternary()
        self.take(":")
        otherwise = self.ternary()

        def choose(env: Mapping[str, Value]) -> Value:
            chosen = condition(env)
            if isinstance(chosen, CelError):
                return chosen
            if not isinstance(chosen, bool):
                return CelError("no such overload: ternary condition is not a bool")
            return then(env) if chosen else otherwise(env)

        return choose

    def logical(self, op: str) -> Node:
        node = self.logical("&&") if op == "||" else self.relation()
        while self.peek() == op:
            self.take(op)
            right = self.logical("&&") if op == "||" else self.relation()
            node = _logic(op, node, right)
        return node

    def relation(self) -> Node:
        node = self.unary()
        while self.peek() in ("==", "!=", "<", "<=", ">", ">=", "in"):
            op = self.take()[1]
            node = _binary(op, node, self.unary())
        return node

    def unary(self) -> Node:
        if self.peek() == "!":
            self.take("!")
            operand = self.unary()

            def negate(env: Mapping[str, Value]) -> Value:
                value = operand(env)
                if isinstance(value, CelError | bool):
                    return value if isinstance(value, CelError) else not value
                return CelError(f"no such overload: !{type(value).__name__}")

            return negate
        return self.member(self.primary())

    def member(self, node: Node) -> Node:
        while self.peek() == ".":
            self.take(".")
            kind, name = self.take()
            if kind != "name":
                raise UnsupportedRule(f"expected a field name after '.', found {name!r}")
            if self.peek() == "(":
                if name not in _METHODS:
                    raise UnsupportedRule(f"unsupported CEL method {name}() in {self.text!r}")
                node = _method(name, node, self.arguments())
            else:
                node = _select(node, name)
        return node

    def arguments(self) -> list[Node]:
        self.take("(")
        args: list[Node] = []
        while self.peek() != ")":
            args.append(self.ternary())
            if self.peek() != ")":
                self.take(",")
        self.take(")")
        return args

    def primary(self) -> Node:
        kind, text = self.take()
        if kind == "int":
            return _constant(int(text))
        if kind == "str":
            return _constant(re.sub(r"\\(.)", lambda m: _escape(m.group(1)), text[1:-1]))
        if text == "(":
            node = self.ternary()
            self.take(")")
            return node
        if text == "[":
            items = []
            while self.peek() != "]":
                items.append(self.ternary())
                if self.peek() != "]":
                    self.take(",")
            self.take("]")
            return lambda env: [item(env) for item in items]
        if kind == "name" and text in ("true", "false", "null"):
            return _constant({"true": True, "false": False, "null": None}[text])
        if kind == "name" and text == "has":
            return self.presence()
        if kind == "name" and text == "size" and self.peek() == "(":
            args = self.arguments()
            if len(args) != 1:
                raise UnsupportedRule(f"size() takes one argument, in {self.text!r}")
            return _method("size", args[0], [])
        if kind == "name" and text in _VARIABLES:
            return lambda env: env.get(text, CelError(f"undeclared reference to {text!r}"))
        raise UnsupportedRule(f"unsupported CEL {text!r} in {self.text!r}")

    def presence(self) -> Node:
        self.take("(")
        target = self.unary()
        self.take(")")
        select = getattr(target, "presence_test", None)
        if select is None:
            raise UnsupportedRule(f"has() needs a field selection, in {self.text!r}")
        return select  # type: ignore[no-any-return]


def _escape(char: str) -> str:
    if char not in _ESCAPES:
        raise UnsupportedRule(f"unsupported escape \\{char} in a CEL string")
    return _ESCAPES[char]


def _constant(value: Value) -> Node:
    return lambda env: value


def _logic(op: str, left: Node, right: Node) -> Node:
    absorbing = op == "||"  # true absorbs ||, false absorbs &&

    def evaluate(env: Mapping[str, Value]) -> Value:
        values = [left(env), right(env)]
        if any(value is absorbing for value in values):
            return absorbing
        for value in values:
            if isinstance(value, CelError):
                return value
            if not isinstance(value, bool):
                return CelError(f"no such overload: {type(value).__name__} {op}")
        return not absorbing

    return evaluate


def _binary(op: str, left: Node, right: Node) -> Node:
    def evaluate(env: Mapping[str, Value]) -> Value:
        a, b = left(env), right(env)
        for value in (a, b):
            if isinstance(value, CelError):
                return value
        return _compare(op, a, b)

    return evaluate


def _method(name: str, target: Node, args: list[Node]) -> Node:
    def evaluate(env: Mapping[str, Value]) -> Value:
        values = [target(env), *(arg(env) for arg in args)]
        error = next((v for v in values if isinstance(v, CelError)), None)
        return error if error is not None else _call(name, values[0], values[1:])

    return evaluate


def _select(target: Node, name: str) -> Node:
    def evaluate(env: Mapping[str, Value]) -> Value:
        parent = target(env)
        if isinstance(parent, CelError):
            return parent
        if not isinstance(parent, Mapping):
            return CelError(f"no such field {name!r} on {type(parent).__name__}")
        return parent[name] if name in parent else CelError(f"no such key: {name}")

    def presence_test(env: Mapping[str, Value]) -> Value:
        parent = target(env)
        if isinstance(parent, CelError):
            return parent
        if not isinstance(parent, Mapping):
            return CelError(f"has() on {type(parent).__name__}")
        return name in parent

    evaluate.presence_test = presence_test  # type: ignore[attr-defined]
    return evaluate


@dataclass(frozen=True)
class Rule:
    """One compiled rule; ``transition`` rules (naming ``oldSelf``) run only on updates."""

    text: str
    transition: bool
    _node: Node

    def evaluate(self, value: Value, old: Value = None) -> bool | CelError:
        """True if ``value`` (and ``old``, for a transition rule) keeps the rule."""
        result = self._node({"self": value, "oldSelf": old} if self.transition else {"self": value})
        if isinstance(result, bool | CelError):
            return result
        return CelError(f"rule evaluated to {type(result).__name__}, not bool")


def compile_rule(text: str) -> Rule:
    """Parse a rule once; raises :class:`UnsupportedRule` for CEL outside the subset."""
    node = _Parser(text).parse()
    return Rule(text=text, transition=re.search(r"\boldSelf\b", text) is not None, _node=node)
