from datetime import UTC, datetime, timedelta

from external_identity.api.conditions import set_condition

T0 = datetime(2026, 1, 1, tzinfo=UTC)


def test_a_new_condition_records_its_transition_time_and_generation() -> None:
    [ready] = set_condition(
        [], type_="Ready", status=True, reason="TokenIssued", message="ok", generation=3, now=T0
    )
    assert ready == {
        "type": "Ready",
        "status": "True",
        "reason": "TokenIssued",
        "message": "ok",
        "lastTransitionTime": "2026-01-01T00:00:00Z",
        "observedGeneration": 3,
    }


def test_transition_time_is_kept_while_the_status_does_not_flip() -> None:
    first = set_condition(
        [], type_="Ready", status=False, reason="ExchangeFailed", message="a", generation=1, now=T0
    )
    later = set_condition(
        first,
        type_="Ready",
        status=False,
        reason="Expired",
        message="b",
        generation=1,
        now=T0 + timedelta(minutes=5),
    )
    assert later[0]["lastTransitionTime"] == "2026-01-01T00:00:00Z"
    assert later[0]["reason"] == "Expired"


def test_transition_time_moves_when_the_status_flips() -> None:
    first = set_condition(
        [], type_="Ready", status=False, reason="ExchangeFailed", message="a", generation=1, now=T0
    )
    flipped = set_condition(
        first,
        type_="Ready",
        status=True,
        reason="TokenIssued",
        message="b",
        generation=1,
        now=T0 + timedelta(minutes=5),
    )
    assert flipped[0]["lastTransitionTime"] == "2026-01-01T00:05:00Z"


def test_other_condition_types_are_left_alone() -> None:
    other = {
        "type": "Synced",
        "status": "True",
        "reason": "X",
        "message": "",
        "lastTransitionTime": "2025-01-01T00:00:00Z",
    }
    result = set_condition(
        [other],
        type_="Ready",
        status=True,
        reason="TokenIssued",
        message="",
        generation=None,
        now=T0,
    )
    assert other in result and len(result) == 2


def test_long_messages_are_truncated() -> None:
    [ready] = set_condition(
        [], type_="Ready", status=False, reason="Rejected", message="x" * 5000, generation=1, now=T0
    )
    assert len(ready["message"]) == 1024
