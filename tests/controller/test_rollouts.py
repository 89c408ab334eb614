"""The pure half of restart on rotation: which workloads follow, and what is stale."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from external_identity.controller.rollouts import (
    FINGERPRINT_ANNOTATION,
    FOLLOW_KEY,
    RESTARTED_AT_ANNOTATION,
    restart_patch,
    stale_fingerprints,
    token_fingerprint,
    workload_from,
)

NOW = datetime(2025, 5, 1, 12, 0, 0, 250000, tzinfo=UTC)


def body(*, follows: str | None = "api, worker", label: str | None = "true",
         template: dict[str, str] | None = None, kind: str = "Deployment") -> dict[str, Any]:
    metadata: dict[str, Any] = {"name": "web", "namespace": "payments"}
    if label is not None:
        metadata["labels"] = {FOLLOW_KEY: label}
    if follows is not None:
        metadata["annotations"] = {FOLLOW_KEY: follows}
    return {"kind": kind, "metadata": metadata,
            "spec": {"template": {"metadata": {"annotations": template or {}}}}}


def test_the_fingerprint_tells_tokens_apart_and_is_no_part_of_the_token() -> None:
    token = "pss_service:v2:" + "ab12" * 16
    fingerprint = token_fingerprint(token)
    assert len(fingerprint) == 16 and int(fingerprint, 16) >= 0
    assert fingerprint not in token and not token.startswith(fingerprint)
    assert token_fingerprint(token + "x") != fingerprint


def test_a_workload_follows_only_with_the_label_and_named_bindings() -> None:
    workload = workload_from(body())
    assert workload is not None and workload.follows == {"api", "worker"}
    assert workload_from(body(label=None)) is None
    assert workload_from(body(label="false")) is None
    assert workload_from(body(follows=" , ")) is None
    assert workload_from(body(kind="ReplicaSet")) is None


def test_the_template_fingerprints_and_restart_time_are_read_back() -> None:
    workload = workload_from(body(template={
        FINGERPRINT_ANNOTATION: "api=aaaa,worker=bbbb",
        RESTARTED_AT_ANNOTATION: "2025-05-01T11:00:00.5Z",
    }))
    assert workload is not None
    assert workload.fingerprints == {"api": "aaaa", "worker": "bbbb"}
    assert workload.restarted_at == datetime(2025, 5, 1, 11, 0, 0, 500000, tzinfo=UTC)


def test_only_a_changed_fingerprint_is_stale_and_a_first_token_only_where_one_was_carried() -> None:
    workload = workload_from(body(template={FINGERPRINT_ANNOTATION: "api=aaaa"}))
    assert workload is not None
    assert stale_fingerprints(workload, {"api": "aaaa"}, rotation=True) == {}
    assert stale_fingerprints(workload, {"api": "cccc"}, rotation=False) == {"api": "cccc"}
    assert stale_fingerprints(workload, {"worker": "dddd"}, rotation=False) == {}
    assert stale_fingerprints(workload, {"worker": "dddd"}, rotation=True) == {"worker": "dddd"}
    assert stale_fingerprints(workload, {"other": "eeee"}, rotation=True) == {}


def test_the_patch_keeps_other_bindings_drops_unfollowed_ones_and_records_the_time() -> None:
    workload = workload_from(body(template={FINGERPRINT_ANNOTATION: "gone=ffff,worker=bbbb"}))
    assert workload is not None
    annotations = restart_patch(workload, {"api": "cccc"}, NOW)["spec"]["template"]["metadata"][
        "annotations"]
    assert annotations == {FINGERPRINT_ANNOTATION: "api=cccc,worker=bbbb",
                           RESTARTED_AT_ANNOTATION: "2025-05-01T12:00:00.250000Z"}
