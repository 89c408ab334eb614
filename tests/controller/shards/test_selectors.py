"""Label selectors as --binding-selector takes them: every form the API server accepts."""

from __future__ import annotations

import pytest

from external_identity.controller.shards.selectors import parse_selector

LABELS = {"shard": "a", "tier": "gold", "example.com/team": "pay"}


@pytest.mark.parametrize(("selector", "expected"), [
    ("shard=a", True),
    ("shard==a", True),
    ("shard=b", False),
    ("shard!=b", True),
    ("shard!=a", False),
    ("missing!=a", True),
    ("shard", True),
    ("missing", False),
    ("!missing", True),
    ("!shard", False),
    ("shard in (a,b)", True),
    ("shard in (b, c)", False),
    ("missing in (a)", False),
    ("shard notin (b,c)", True),
    ("shard notin (a)", False),
    ("missing notin (a)", True),
    ("shard=a,tier=gold", True),
    ("shard=a, tier in (silver, bronze)", False),
    ("example.com/team=pay,!missing", True),
    ("", True),
])
def test_a_selector_matches_as_the_api_server_matches_it(selector: str, expected: bool) -> None:
    assert parse_selector(selector).matches(LABELS) is expected


@pytest.mark.parametrize("selector", [
    "shard in (a", "shard in a,b)", "sh ard=a", "shard=a b", "=a", "shard=-a-", "shard in ((a))",
])
def test_what_is_no_selector_is_refused_naming_it(selector: str) -> None:
    with pytest.raises(ValueError, match="label selector"):
        parse_selector(selector)
