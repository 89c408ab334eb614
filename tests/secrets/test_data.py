"""What a token Secret holds, built and read back as pure data: keys, base64 data, our labels and
annotations, whose Secret it is, and what an earlier write left."""

from __future__ import annotations

import base64
import dataclasses
import subprocess
import sys
from datetime import UTC, datetime

import pytest

from external_identity.errors import ConfigurationError, SecretWriteError
from external_identity.secrets.data import (
    CHECKSUM_ANNOTATION,
    EXPIRES_AT_ANNOTATION,
    IDENTITY_ANNOTATION,
    ISSUED_AT_ANNOTATION,
    ISSUED_FOR_ANNOTATION,
    MANAGED_BY_LABEL,
    OWNER_ANNOTATION,
    TOKEN_NAME_ANNOTATION,
    TTL_ANNOTATION,
    ControllerRef,
    DataFacts,
    OwnerReference,
    SecretKeys,
    SecretTarget,
    controller_of,
    data_checksum,
    data_facts,
    metadata_drifted,
    not_ours,
    secret_data,
    stored_token,
    token_annotations,
)
from tests.secrets.writer.samples import BEARER, TOKEN, b64, issued

OWNER = "5b0c6a9e-0000-4000-8000-000000000001"
TARGET = SecretTarget(namespace="payments", name="phase-service-token", owner_key=OWNER,
                      identity="prod-aws")
OURS = dict([MANAGED_BY_LABEL])


# -- keys and data ----------------------------------------------------------------------------


def test_by_default_only_the_token_is_written_under_the_key_token() -> None:
    assert SecretKeys().names() == ["token"]
    assert secret_data(SecretKeys(), issued()) == {"token": b64(TOKEN)}


def test_each_configured_key_holds_its_value_in_base64() -> None:
    keys = SecretKeys(token="t", bearer_token="authorization", expires_at="expires", host="host")
    assert keys.names() == ["t", "authorization", "expires", "host"]
    assert secret_data(keys, issued()) == {
        "t": b64(TOKEN),
        "authorization": b64(BEARER),
        "expires": b64("2030-01-02T04:00:05Z"),
        "host": b64("https://console.phase.dev"),
    }


def test_the_phase_env_format_adds_the_names_the_phase_cli_reads() -> None:
    keys = SecretKeys(phase_env=True)
    assert keys.names() == ["token", "PHASE_SERVICE_TOKEN", "PHASE_HOST"]
    assert keys.values(issued()) == {
        "token": TOKEN, "PHASE_SERVICE_TOKEN": TOKEN, "PHASE_HOST": "https://console.phase.dev",
    }


@pytest.mark.parametrize("bad", ["has/slash", "white space", "ü", "x" * 254])
def test_a_key_kubernetes_would_refuse_is_a_configuration_error_naming_it(bad: str) -> None:
    with pytest.raises(ConfigurationError) as refused:
        secret_data(SecretKeys(token="token", bearer_token=bad, host="ok"), issued())
    assert repr(bad)[:40] in str(refused.value)
    assert TOKEN not in str(refused.value)


def test_an_empty_token_key_is_refused_rather_than_writing_a_secret_without_the_token() -> None:
    with pytest.raises(ConfigurationError, match="invalid Secret data key"):
        secret_data(SecretKeys(token=""), issued())


@pytest.mark.parametrize("keys", [
    SecretKeys(token="token", host="token"),
    SecretKeys(token="PHASE_HOST", phase_env=True),
    SecretKeys(bearer_token="PHASE_SERVICE_TOKEN", phase_env=True),
])
def test_two_values_under_one_key_are_refused(keys: SecretKeys) -> None:
    with pytest.raises(ConfigurationError, match="must be distinct"):
        secret_data(keys, issued())


def test_an_empty_token_is_never_turned_into_data() -> None:
    with pytest.raises(SecretWriteError, match="refusing to write an empty token"):
        secret_data(SecretKeys(), issued(""))


def test_the_checksum_depends_on_the_data_and_not_on_its_order() -> None:
    one = {"a": b64("1"), "b": b64("2")}
    assert data_checksum(one) == data_checksum({"b": b64("2"), "a": b64("1")})
    assert data_checksum(one) != data_checksum({"a": b64("1"), "b": b64("3")})
    assert data_checksum(one) != data_checksum({"a": b64("1")})
    assert len(data_checksum(one)) == 64


# -- annotations ------------------------------------------------------------------------------


def test_annotations_record_owner_identity_times_ttl_and_checksum_beside_the_targets_own() -> None:
    target = SecretTarget(
        namespace="payments", name="s", owner_key=OWNER, identity="prod-aws",
        issued_for="fingerprint-1", annotations={"reloader.stakater.com/match": "true"},
    )
    data = secret_data(target.keys, issued(ttl=1800))
    assert token_annotations(target, issued(ttl=1800), data) == {
        "reloader.stakater.com/match": "true",
        OWNER_ANNOTATION: OWNER,
        IDENTITY_ANNOTATION: "prod-aws",
        ISSUED_FOR_ANNOTATION: "fingerprint-1",
        EXPIRES_AT_ANNOTATION: "2030-01-02T03:30:05Z",
        ISSUED_AT_ANNOTATION: "2030-01-02T03:00:05Z",
        TTL_ANNOTATION: "1800",
        CHECKSUM_ANNOTATION: data_checksum(data),
    }


def test_an_untracked_fingerprint_writes_no_issued_for_annotation() -> None:
    annotations = token_annotations(TARGET, issued(), {"token": b64(TOKEN)})
    assert ISSUED_FOR_ANNOTATION not in annotations


def test_the_name_phase_gives_the_token_is_recorded_when_known() -> None:
    named = dataclasses.replace(TARGET, token_name="aws-iam")
    annotations = token_annotations(named, issued(), {"token": b64(TOKEN)})
    assert annotations[TOKEN_NAME_ANNOTATION] == "aws-iam"
    assert TOKEN_NAME_ANNOTATION not in token_annotations(TARGET, issued(), {"token": b64(TOKEN)})


def test_a_new_token_name_alone_does_not_make_another_target() -> None:
    assert dataclasses.replace(TARGET, token_name="renamed") == TARGET


def test_a_user_annotation_cannot_forge_the_owner_or_the_expiry() -> None:
    target = SecretTarget(
        namespace="payments", name="s", owner_key=OWNER, identity="prod-aws",
        annotations={OWNER_ANNOTATION: "someone-else",
                     EXPIRES_AT_ANNOTATION: "2099-01-01T00:00:00Z"},
    )
    annotations = token_annotations(target, issued(), {"token": b64(TOKEN)})
    assert annotations[OWNER_ANNOTATION] == OWNER
    assert annotations[EXPIRES_AT_ANNOTATION] == "2030-01-02T04:00:05Z"


def test_no_annotation_holds_the_token() -> None:
    annotations = token_annotations(TARGET, issued(), secret_data(SecretKeys(), issued()))
    assert not any(TOKEN in value or b64(TOKEN) in value for value in annotations.values())


# -- whose Secret -----------------------------------------------------------------------------


BINDING = OwnerReference(api_version="externalidentity.dev/v1alpha1",
                         kind="ServiceAccountBinding", name="payments-api", uid=OWNER)
OWNED = dataclasses.replace(TARGET, owner=BINDING)
CONTROLLER = ControllerRef(kind="ServiceAccountBinding", name="payments-api", uid=OWNER)


def test_a_bindings_secret_is_its_own_by_the_controller_reference_alone() -> None:
    assert not_ours({}, {}, CONTROLLER, OWNED) is None
    assert not_ours(OURS, {OWNER_ANNOTATION: "edited"}, CONTROLLER, OWNED) is None


def test_a_secret_without_a_controller_is_not_the_bindings_even_with_our_label() -> None:
    why = not_ours(OURS, {OWNER_ANNOTATION: OWNER}, None, OWNED)
    assert why == (
        "Secret payments/phase-service-token already exists and is not owned by "
        "ServiceAccountBinding 'payments-api'; refusing to overwrite it (delete it, or choose "
        "another secret name)"
    )


def test_a_secret_another_object_controls_is_not_ours_and_names_that_object() -> None:
    other = ControllerRef(kind="ServiceAccountBinding", name="orders-api", uid="another-uid")
    why = not_ours(OURS, {OWNER_ANNOTATION: OWNER}, other, OWNED)
    assert why is not None
    assert "belongs to ServiceAccountBinding 'orders-api'" in why
    assert "choose another secret name" in why


def test_the_controller_is_the_owner_reference_marked_controller() -> None:
    refs = [
        {"apiVersion": "v1", "kind": "ConfigMap", "name": "x", "uid": "1"},
        {"apiVersion": "v1", "kind": "ServiceAccountBinding", "name": "b", "uid": "2",
         "controller": True},
    ]
    assert controller_of(refs) == ControllerRef(kind="ServiceAccountBinding", name="b", uid="2")
    assert controller_of(refs[:1]) is None
    assert controller_of(None) is None


def test_a_secret_with_our_label_and_the_cli_owner_is_the_clis() -> None:
    assert not_ours(OURS, {OWNER_ANNOTATION: OWNER}, None, TARGET) is None


@pytest.mark.parametrize("labels", [{}, {MANAGED_BY_LABEL[0]: "helm"}, {"app": "legacy"}])
def test_a_secret_without_our_label_is_not_the_clis_and_the_reason_says_so(
    labels: dict[str, str],
) -> None:
    why = not_ours(labels, {OWNER_ANNOTATION: OWNER}, None, TARGET)
    assert why is not None
    assert why.startswith("Secret payments/phase-service-token already exists and is not managed")
    assert "choose another secret name" in why


def test_a_secret_we_manage_for_another_owner_is_not_ours_and_names_that_owner() -> None:
    why = not_ours(OURS, {OWNER_ANNOTATION: "another-binding-uid"}, None, TARGET)
    assert why is not None
    assert "managed for another owner ('another-binding-uid')" in why


def test_a_secret_we_manage_without_an_owner_is_not_ours() -> None:
    why = not_ours(OURS, {}, None, TARGET)
    assert why is not None and "another owner ('')" in why


def test_a_hostile_owner_annotation_or_controller_name_is_redacted_and_cut_in_the_reason() -> None:
    why = not_ours(OURS, {OWNER_ANNOTATION: f"{TOKEN} " + "o" * 500}, None, TARGET)
    assert why is not None
    assert TOKEN not in why and "[redacted]" in why
    assert "o" * 81 not in why
    hostile = ControllerRef(kind="ServiceAccountBinding", name=f"{TOKEN} " + "o" * 500, uid="x")
    why = not_ours({}, {}, hostile, OWNED)
    assert why is not None and TOKEN not in why and "o" * 81 not in why


# -- labels and annotations put back -----------------------------------------------------------


def _stored_as_written(target: SecretTarget = OWNED) -> tuple[dict[str, str], dict[str, str]]:
    token = issued(ttl=1800)
    data = secret_data(SecretKeys(), token)
    labels = {**target.labels, **OURS}
    return labels, token_annotations(target, token, data)


def _drift(labels: dict[str, str], annotations: dict[str, str],
           target: SecretTarget = OWNED) -> dict[str, dict[str, str]] | None:
    token = issued(ttl=1800)
    stored = stored_token(annotations, {}, keys=SecretKeys(), resource_version="1",
                          labels=labels)
    return metadata_drifted(stored, target, issued_at=token.issued_at,
                            expires_at=token.expires_at)


def test_a_secret_as_written_has_nothing_to_put_back() -> None:
    target = dataclasses.replace(OWNED, labels={"team": "payments"},
                                 annotations={"note": "x"}, token_name="aws-iam")
    assert _drift(*_stored_as_written(target), target) is None


def test_a_lost_label_is_put_back() -> None:
    _labels, annotations = _stored_as_written()
    assert _drift({}, annotations) == {"labels": dict([MANAGED_BY_LABEL])}


def test_edited_or_removed_annotations_of_ours_and_the_targets_are_put_back() -> None:
    target = dataclasses.replace(OWNED, annotations={"note": "x"})
    labels, annotations = _stored_as_written(target)
    edited = {**annotations, OWNER_ANNOTATION: "someone", "note": "changed"}
    del edited[IDENTITY_ANNOTATION]
    assert _drift(labels, edited, target) == {"annotations": {
        OWNER_ANNOTATION: OWNER, "note": "x", IDENTITY_ANNOTATION: "prod-aws",
    }}


def test_the_token_name_is_never_drift_it_waits_for_the_next_token() -> None:
    target = dataclasses.replace(OWNED, token_name="new-name")
    labels, annotations = _stored_as_written(dataclasses.replace(target, token_name="old"))
    assert _drift(labels, annotations, target) is None
    del annotations[TOKEN_NAME_ANNOTATION]
    assert _drift(labels, annotations, target) is None


def test_a_ttl_annotation_that_is_not_a_number_is_put_back_from_the_times() -> None:
    labels, annotations = _stored_as_written()
    assert _drift(labels, {**annotations, TTL_ANNOTATION: "forever"}) == {
        "annotations": {TTL_ANNOTATION: "1800"}}


def test_labels_and_annotations_of_others_are_left_alone() -> None:
    labels, annotations = _stored_as_written()
    assert _drift({**labels, "argocd": "x"}, {**annotations, "reloader": "y"}) is None


# -- reading back -----------------------------------------------------------------------------


def _written(keys: SecretKeys | None = None) -> tuple[dict[str, str], dict[str, str]]:
    data = secret_data(keys or SecretKeys(), issued(ttl=1800))
    return token_annotations(TARGET, issued(ttl=1800), data), data


def test_what_was_written_reads_back_with_its_times_and_intact_data() -> None:
    annotations, data = _written()
    stored = stored_token(annotations, data, keys=SecretKeys(), resource_version="42",
                          finalizers=("backup.example.com/keep",))
    assert stored.expires_at == datetime(2030, 1, 2, 3, 30, 5, tzinfo=UTC)
    assert stored.issued_at == datetime(2030, 1, 2, 3, 0, 5, tzinfo=UTC)
    assert stored.data_intact is True
    assert (stored.resource_version, stored.identity, stored.issued_for) == ("42", "prod-aws", "")
    assert stored.finalizers == ("backup.example.com/keep",)


def test_facts_about_the_data_read_back_the_same_as_the_data_itself() -> None:
    annotations, data = _written()
    facts = data_facts(annotations, data)
    assert stored_token(annotations, facts, keys=SecretKeys(), resource_version="7") == (
        stored_token(annotations, data, keys=SecretKeys(), resource_version="7")
    )


@pytest.mark.parametrize("edit", [
    {"token": b64("pasted by hand")},
    {"token": ""},
    {"token": "not base64!"},
    {"extra": b64("x")},
    {},
])
def test_edited_emptied_or_extended_data_is_not_intact(edit: dict[str, str]) -> None:
    annotations, data = _written()
    edited = {**data, **edit} if edit else {}
    stored = stored_token(annotations, edited, keys=SecretKeys(), resource_version="1")
    assert stored.data_intact is False
    assert stored.expires_at is not None


def test_an_empty_token_is_not_intact_even_when_the_checksum_matches_it() -> None:
    blank = {"token": ""}
    annotations = {CHECKSUM_ANNOTATION: data_checksum(blank)}
    stored = stored_token(annotations, blank, keys=SecretKeys(), resource_version="1")
    assert stored.data_intact is False


def test_data_written_for_other_keys_is_not_intact_for_these() -> None:
    annotations, data = _written(SecretKeys(host="host"))
    assert stored_token(annotations, data, keys=SecretKeys(host="host"),
                        resource_version="1").data_intact
    assert not stored_token(annotations, data, keys=SecretKeys(), resource_version="1").data_intact


def test_a_token_key_holding_base64_of_nothing_is_not_filled() -> None:
    data = {"token": "", "host": b64("h"), "bad": "@@@", "nothing": base64.b64encode(b"").decode()}
    facts = data_facts({}, data)
    assert facts == DataFacts(checksum_matches=False, names=frozenset(data),
                              filled=frozenset({"host"}))


def test_the_issue_time_an_older_release_wrote_is_still_read() -> None:
    annotations = {EXPIRES_AT_ANNOTATION: "2030-01-02T04:00:05Z",
                   "externalidentity.dev/refreshed-at": "2030-01-02T03:00:05Z"}
    stored = stored_token(annotations, {}, keys=SecretKeys(), resource_version="1")
    assert stored.issued_at == datetime(2030, 1, 2, 3, 0, 5, tzinfo=UTC)


def test_the_current_issue_time_wins_over_the_legacy_one() -> None:
    annotations = {ISSUED_AT_ANNOTATION: "2030-01-02T03:00:05Z",
                   "externalidentity.dev/refreshed-at": "2020-01-01T00:00:00Z"}
    stored = stored_token(annotations, {}, keys=SecretKeys(), resource_version="1")
    assert stored.issued_at == datetime(2030, 1, 2, 3, 0, 5, tzinfo=UTC)


@pytest.mark.parametrize("value", ["", "tomorrow", "2030-13-01T00:00:00Z"])
def test_a_missing_or_garbled_time_reads_as_unknown(value: str) -> None:
    annotations = {EXPIRES_AT_ANNOTATION: value, ISSUED_AT_ANNOTATION: value} if value else {}
    stored = stored_token(annotations, {}, keys=SecretKeys(), resource_version="1")
    assert (stored.expires_at, stored.issued_at) == (None, None)


def test_the_identity_and_fingerprint_written_are_read_back() -> None:
    annotations = {IDENTITY_ANNOTATION: "prod-aws", ISSUED_FOR_ANNOTATION: "abc"}
    stored = stored_token(annotations, {}, keys=SecretKeys(), resource_version="1")
    assert (stored.identity, stored.issued_for) == ("prod-aws", "abc")


def test_a_target_is_referred_to_as_namespace_slash_name_and_is_opaque_by_default() -> None:
    assert TARGET.ref == "payments/phase-service-token"
    assert TARGET.type == "Opaque"
    assert TARGET.owner is None


def test_this_module_loads_no_io_library() -> None:
    probe = (
        "import sys, external_identity.secrets.data\n"
        "print(sorted({m.split('.')[0] for m in sys.modules}))\n"
    )
    result = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True,
                            check=True)
    loaded = set(eval(result.stdout))
    assert "external_identity" in loaded
    assert loaded.isdisjoint({"kubernetes", "urllib3", "httpx", "botocore", "azure", "kopf"})
