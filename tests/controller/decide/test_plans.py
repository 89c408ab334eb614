"""The decision chain's vocabulary: a refresh request, and what a held token answers."""

from __future__ import annotations

from external_identity.controller.decide.plans import HANDLED_REFRESH_FIELD
from tests.controller.decide.situations import held, situation


def test_a_refresh_request_counts_until_a_token_has_answered_it() -> None:
    assert situation(refresh_request="r1").refresh_requested
    answered = situation(refresh_request="r1", status={HANDLED_REFRESH_FIELD: "r1"})
    assert not answered.refresh_requested
    newer = situation(refresh_request="r2", status={HANDLED_REFRESH_FIELD: "r1"})
    assert newer.refresh_requested


def test_no_request_or_an_empty_one_asks_for_nothing() -> None:
    assert not situation().refresh_requested
    assert not situation(refresh_request="").refresh_requested


def test_a_held_token_answers_what_its_target_was_issued_for() -> None:
    token = held()
    assert token.issued_for == token.target.issued_for != ""


def test_a_held_token_never_shows_the_token_in_its_repr() -> None:
    token = held()
    assert token.token is not None
    assert token.token.token not in repr(token)
