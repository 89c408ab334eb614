"""An operator's scope: its namespace patterns and its binding selector."""

from __future__ import annotations

import pytest

from external_identity.controller.shards.scopes import OperatorScope, namespace_matches


@pytest.mark.parametrize(("namespace", "patterns", "expected"), [
    ("payments", (), True),
    ("payments", ("payments",), True),
    ("orders", ("payments",), False),
    ("team-a", ("team-*",), True),
    ("team-a", ("team-*", "!team-a"), False),
    ("sandbox", ("!team-*",), True),
])
def test_a_namespace_matches_as_kopf_matches_it(
    namespace: str, patterns: tuple[str, ...], expected: bool,
) -> None:
    assert namespace_matches(namespace, patterns) is expected


def test_a_scope_covers_a_binding_in_its_namespaces_with_its_labels() -> None:
    scope = OperatorScope(("team-*",), "shard in (a,b)")
    assert scope.covers("team-x", {"shard": "a"})
    assert not scope.covers("team-x", {"shard": "c"})
    assert not scope.covers("other", {"shard": "a"})
    assert OperatorScope().covers("anywhere", {})


def test_a_selector_that_does_not_parse_covers_everything_so_its_owner_is_deferred_to() -> None:
    assert OperatorScope((), "shard in (").covers("payments", {})


def test_a_scope_describes_itself_for_a_log_line() -> None:
    assert OperatorScope().describe() == "all namespaces"
    assert OperatorScope(("a", "b-*"), "shard=a").describe() == (
        "namespaces a, b-*; bindings labelled shard=a")
