"""The operator's cache of its own token Secrets: what it keeps of a Secret (never the data),
how resourceVersions keep it from rolling back, and what a lookup says."""

from __future__ import annotations

from typing import Any

import pytest

from external_identity.errors import SecretConflict
from external_identity.secrets.cache import SecretCache, cached_secret
from external_identity.secrets.data import (
    MANAGED_BY_LABEL,
    OWNER_ANNOTATION,
    SecretKeys,
    SecretTarget,
    secret_data,
    token_annotations,
)
from tests.secrets.writer.samples import BEARER, TOKEN, b64, issued

NAMESPACE = "payments"
OWNER = "5b0c6a9e-0000-4000-8000-000000000001"
TARGET = SecretTarget(namespace=NAMESPACE, name="phase-service-token", owner_key=OWNER,
                      identity="prod-aws")


def body(
    resource_version: str = "10",
    *,
    name: str = TARGET.name,
    owner_key: str = OWNER,
    labels: dict[str, str] | None = None,
    extra_annotations: dict[str, str] | None = None,
    data: dict[str, str] | None = None,
    **metadata: Any,
) -> dict[str, Any]:
    """A Secret as the API returns it after our write."""
    target = SecretTarget(namespace=NAMESPACE, name=name, owner_key=owner_key,
                          identity="prod-aws")
    written = secret_data(SecretKeys(), issued()) if data is None else data
    annotations = {**token_annotations(target, issued(), written), **(extra_annotations or {})}
    return {
        "apiVersion": "v1", "kind": "Secret", "type": "Opaque",
        "metadata": {
            "name": name, "namespace": NAMESPACE, "resourceVersion": resource_version,
            "labels": dict([MANAGED_BY_LABEL]) if labels is None else labels,
            "annotations": annotations,
            **metadata,
        },
        "data": written,
    }


# -- what is kept of a Secret -----------------------------------------------------------------


def test_labels_and_annotations_are_kept_but_kubectls_copy_of_the_object() -> None:
    secret = cached_secret(body(
        labels={**dict([MANAGED_BY_LABEL]), "team": "payments"},
        extra_annotations={"reloader.stakater.com/match": "true",
                           "kubectl.kubernetes.io/last-applied-configuration": "{...}"},
    ))
    assert secret.labels == {**dict([MANAGED_BY_LABEL]), "team": "payments"}
    assert set(secret.annotations) == {
        "externalidentity.dev/owner", "externalidentity.dev/identity",
        "externalidentity.dev/expires-at", "externalidentity.dev/issued-at",
        "externalidentity.dev/ttl", "externalidentity.dev/data-checksum",
        "reloader.stakater.com/match",
    }


def test_the_data_itself_is_never_kept_only_which_keys_are_filled() -> None:
    secret = cached_secret(body(data={"token": b64(TOKEN), "auth": b64(BEARER), "empty": ""}))
    assert secret.facts.names == {"token", "auth", "empty"}
    assert secret.facts.filled == {"token", "auth"}
    shown = repr(secret) + repr(vars(secret))
    for value in (TOKEN, BEARER, b64(TOKEN), b64(BEARER)):
        assert value not in shown


def test_the_owning_binding_is_read_from_its_owner_reference() -> None:
    secret = cached_secret(body(ownerReferences=[
        {"apiVersion": "apps/v1", "kind": "Deployment", "name": "api", "uid": "d"},
        {"apiVersion": "externalidentity.dev/v1alpha1", "kind": "ServiceAccountBinding",
         "name": "payments-api", "uid": OWNER, "controller": True},
    ]))
    assert secret.owner == "payments-api"
    assert cached_secret(body()).owner is None


def test_resource_version_and_finalizers_are_kept() -> None:
    secret = cached_secret(body("77", finalizers=["backup.example.com/keep"]))
    assert (secret.resource_version, secret.finalizers) == ("77", ("backup.example.com/keep",))


def test_a_secret_with_nothing_in_it_is_kept_as_empty() -> None:
    secret = cached_secret({"metadata": None, "data": None})
    assert (secret.resource_version, secret.labels, secret.annotations) == ("", {}, {})
    assert (secret.finalizers, secret.owner, secret.facts.names) == ((), None, frozenset())


# -- resourceVersions -------------------------------------------------------------------------


def test_a_newer_version_replaces_an_older_one_and_an_older_one_is_ignored() -> None:
    cache = SecretCache()
    assert cache.saw(NAMESPACE, TARGET.name, cached_secret(body("10"))) is True
    assert cache.saw(NAMESPACE, TARGET.name, cached_secret(body("12"))) is True
    assert cache.saw(NAMESPACE, TARGET.name, cached_secret(body("11"))) is False
    stored = cache.lookup(TARGET)
    assert stored is not None and stored.resource_version == "12"


def test_resource_versions_compare_as_numbers_not_as_text() -> None:
    cache = SecretCache()
    cache.saw(NAMESPACE, TARGET.name, cached_secret(body("9")))
    assert cache.saw(NAMESPACE, TARGET.name, cached_secret(body("10"))) is True
    assert cache.saw(NAMESPACE, TARGET.name, cached_secret(body("9"))) is False


def test_the_same_version_seen_again_is_no_news() -> None:
    """The watch's echo of our own write: the cache already has it from the API's reply."""
    cache = SecretCache()
    cache.saw(NAMESPACE, TARGET.name, cached_secret(body("10")))
    assert cache.saw(NAMESPACE, TARGET.name, cached_secret(body("10"))) is False


def test_opaque_resource_versions_are_always_taken_as_news() -> None:
    cache = SecretCache()
    cache.saw(NAMESPACE, TARGET.name, cached_secret(body("b")))
    assert cache.saw(NAMESPACE, TARGET.name, cached_secret(body("a"))) is True


def test_a_secret_seen_twice_is_kept_once() -> None:
    cache = SecretCache()
    cache.saw(NAMESPACE, TARGET.name, cached_secret(body("1")))
    cache.saw(NAMESPACE, TARGET.name, cached_secret(body("2")))
    cache.saw(NAMESPACE, "other", cached_secret(body("3", name="other")))
    assert len(cache) == 2


def test_a_deletion_removes_the_secret() -> None:
    cache = SecretCache()
    cache.saw(NAMESPACE, TARGET.name, cached_secret(body("10")))
    cache.gone(NAMESPACE, TARGET.name, "11")
    assert cache.lookup(TARGET) is None and len(cache) == 0


def test_a_late_deletion_of_an_older_version_keeps_the_secret_written_since() -> None:
    cache = SecretCache()
    cache.saw(NAMESPACE, TARGET.name, cached_secret(body("20")))
    cache.gone(NAMESPACE, TARGET.name, "15")
    assert cache.lookup(TARGET) is not None


def test_our_own_deletion_without_a_version_removes_it() -> None:
    cache = SecretCache()
    cache.saw(NAMESPACE, TARGET.name, cached_secret(body("20")))
    cache.gone(NAMESPACE, TARGET.name)
    assert cache.lookup(TARGET) is None


def test_deleting_what_is_not_cached_is_harmless() -> None:
    cache = SecretCache()
    cache.gone(NAMESPACE, "never-seen", "5")
    assert len(cache) == 0


def test_a_list_drops_what_it_did_not_find_in_the_namespaces_it_covers() -> None:
    cache = SecretCache()
    for namespace, name, version in [(NAMESPACE, "kept", "5"), (NAMESPACE, "deleted", "6"),
                                     ("orders", "elsewhere", "7")]:
        cache.saw(namespace, name, cached_secret(body(version, name=name)))

    cache.retain(lambda namespace: namespace == NAMESPACE, {(NAMESPACE, "kept")}, "100")

    assert len(cache) == 2
    assert cache.lookup(SecretTarget(NAMESPACE, "kept", OWNER, "prod-aws")) is not None
    assert cache.lookup(SecretTarget(NAMESPACE, "deleted", OWNER, "prod-aws")) is None
    assert cache.lookup(SecretTarget("orders", "elsewhere", OWNER, "prod-aws")) is not None


def test_a_list_keeps_what_was_written_after_it() -> None:
    cache = SecretCache()
    cache.saw(NAMESPACE, "fresh", cached_secret(body("150", name="fresh")))
    cache.retain(lambda namespace: True, set(), "100")
    assert cache.lookup(SecretTarget(NAMESPACE, "fresh", OWNER, "prod-aws")) is not None


def test_clearing_forgets_everything() -> None:
    cache = SecretCache()
    cache.saw(NAMESPACE, TARGET.name, cached_secret(body()))
    cache.clear()
    assert len(cache) == 0 and cache.lookup(TARGET) is None


# -- lookups ----------------------------------------------------------------------------------


def test_a_lookup_reads_back_what_our_write_left() -> None:
    cache = SecretCache()
    cache.saw(NAMESPACE, TARGET.name, cached_secret(body("33", finalizers=["f.example/x"])))
    stored = cache.lookup(TARGET)
    assert stored is not None
    assert stored.data_intact is True
    assert stored.expires_at == issued().expires_at.replace(microsecond=0)
    assert (stored.resource_version, stored.identity, stored.finalizers) == (
        "33", "prod-aws", ("f.example/x",))


def test_a_lookup_with_other_keys_sees_the_data_as_not_intact() -> None:
    cache = SecretCache()
    cache.saw(NAMESPACE, TARGET.name, cached_secret(body()))
    other_keys = SecretTarget(NAMESPACE, TARGET.name, OWNER, "prod-aws",
                              keys=SecretKeys(host="host"))
    stored = cache.lookup(other_keys)
    assert stored is not None and stored.data_intact is False


def test_an_edited_secret_is_seen_as_not_intact() -> None:
    cache = SecretCache()
    edited = body()
    edited["data"] = {"token": b64("pasted by hand")}
    cache.saw(NAMESPACE, TARGET.name, cached_secret(edited))
    stored = cache.lookup(TARGET)
    assert stored is not None and stored.data_intact is False


def test_a_secret_of_another_binding_is_a_conflict() -> None:
    cache = SecretCache()
    cache.saw(NAMESPACE, TARGET.name, cached_secret(body(owner_key="another-binding-uid")))
    with pytest.raises(SecretConflict, match="another owner"):
        cache.lookup(TARGET)


def test_a_secret_that_lost_our_label_is_a_conflict() -> None:
    cache = SecretCache()
    cache.saw(NAMESPACE, TARGET.name, cached_secret(body(labels={"app": "legacy"})))
    with pytest.raises(SecretConflict, match="not managed by external-identity-operator"):
        cache.lookup(TARGET)


def test_an_owner_annotation_alone_does_not_make_a_secret_ours() -> None:
    cache = SecretCache()
    secret = body(labels={})
    assert secret["metadata"]["annotations"][OWNER_ANNOTATION] == OWNER
    cache.saw(NAMESPACE, TARGET.name, cached_secret(secret))
    with pytest.raises(SecretConflict):
        cache.lookup(TARGET)
