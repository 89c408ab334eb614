"""The operator's metrics, read from its own registry as a scrape would."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from prometheus_client import generate_latest

from external_identity import __version__
from external_identity.controller.metrics import Metrics

KEY = ("payments", "api")
LABELS = {"namespace": "payments", "binding": "api"}
ISSUED = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)
OUTCOME = "external_identity_last_refresh_outcome"


def sample(metrics: Metrics, name: str, labels: dict[str, str] | None = None) -> float | None:
    return metrics.registry.get_sample_value(name, labels or {})


def test_binding_counts_are_read_from_where_they_are_decided_at_each_scrape() -> None:
    metrics, kept, ready = Metrics(), [3], [1]
    metrics.count_bindings(kept=lambda: kept[0], ready=lambda: ready[0])
    assert (sample(metrics, "external_identity_bindings"),
            sample(metrics, "external_identity_bindings_ready")) == (3, 1)
    kept[0], ready[0] = 5, 4
    assert (sample(metrics, "external_identity_bindings"),
            sample(metrics, "external_identity_bindings_ready")) == (5, 4)


def test_a_held_token_has_expiry_and_ttl_series_until_it_is_held_no_more() -> None:
    metrics = Metrics()
    series = metrics.bindings.series(KEY)
    series.holds(issued_at=ISSUED, expires_at=ISSUED + timedelta(seconds=600))
    assert sample(metrics, "external_identity_token_ttl_seconds", LABELS) == 600
    assert sample(metrics, "external_identity_token_expiry_timestamp_seconds", LABELS) == (
        (ISSUED + timedelta(seconds=600)).timestamp())
    series.holds_nothing()
    assert sample(metrics, "external_identity_token_ttl_seconds", LABELS) is None


def test_only_the_last_outcome_of_a_binding_is_one_and_close_drops_it() -> None:
    metrics = Metrics()
    series = metrics.bindings.series(KEY)
    series.attempted("ExchangeFailed")
    series.attempted("TokenIssued")
    assert sample(metrics, OUTCOME, {**LABELS, "reason": "TokenIssued"}) == 1
    assert sample(metrics, OUTCOME, {**LABELS, "reason": "ExchangeFailed"}) is None
    series.close()
    assert sample(metrics, OUTCOME, {**LABELS, "reason": "TokenIssued"}) is None


def test_a_closed_handle_writes_no_series_again() -> None:
    metrics = Metrics()
    series = metrics.bindings.series(KEY)
    series.holds(issued_at=ISSUED, expires_at=ISSUED + timedelta(seconds=600))
    series.attempted("TokenIssued")
    series.close()
    series.holds(issued_at=ISSUED, expires_at=ISSUED + timedelta(seconds=900))
    series.attempted("ExchangeFailed")
    assert series.closed
    assert sample(metrics, "external_identity_token_expiry_timestamp_seconds", LABELS) is None
    assert sample(metrics, "external_identity_token_ttl_seconds", LABELS) is None
    assert sample(metrics, OUTCOME, {**LABELS, "reason": "ExchangeFailed"}) is None


def test_a_closed_handle_leaves_the_series_of_a_binding_recreated_under_its_name() -> None:
    metrics = Metrics()
    old = metrics.bindings.series(KEY)
    old.close()
    new = metrics.bindings.series(KEY)
    new.holds(issued_at=ISSUED, expires_at=ISSUED + timedelta(seconds=600))
    new.attempted("TokenIssued")
    old.holds_nothing()
    old.close()
    assert sample(metrics, "external_identity_token_ttl_seconds", LABELS) == 600
    assert sample(metrics, OUTCOME, {**LABELS, "reason": "TokenIssued"}) == 1


def test_the_registry_has_build_info_and_the_standard_collectors() -> None:
    metrics = Metrics()
    text = generate_latest(metrics.registry).decode()
    assert 'external_identity_build_info{python_version="' in text
    assert f'version="{__version__}"' in text
    for family in ("process_resident_memory_bytes", "python_info", "python_gc_objects_collected"):
        assert family in text
