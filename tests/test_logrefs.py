"""The object reference a per-object log line carries, where kopf keeps its own."""

from __future__ import annotations

from external_identity.logrefs import REF_ATTRIBUTE, about


def test_a_namespaced_object_is_referred_to_by_kind_namespace_and_name() -> None:
    assert about("ServiceAccountBinding", "api", "payments") == {
        REF_ATTRIBUTE: {"kind": "ServiceAccountBinding", "name": "api", "namespace": "payments"}}


def test_a_cluster_scoped_object_has_no_namespace() -> None:
    assert about("ExternalIdentity", "prod-aws") == {
        REF_ATTRIBUTE: {"kind": "ExternalIdentity", "name": "prod-aws"}}


def test_the_attribute_is_kopfs_own() -> None:
    assert REF_ATTRIBUTE == "k8s_ref"
