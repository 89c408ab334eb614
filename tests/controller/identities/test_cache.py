"""IdentityCache: the identities bindings decide with, as last listed or watched. No I/O."""

from __future__ import annotations

from typing import Any

from external_identity.controller.identities.cache import IdentityCache


def identity(
    name: str = "prod-aws", *, generation: int | None = 1, **status: Any
) -> dict[str, Any]:
    return {
        "metadata": {"name": name, "generation": generation, "resourceVersion": "7"},
        "spec": {"provider": "aws-iam", "allowedNamespaces": ["payments"]},
        "status": status,
    }


def test_a_new_identity_is_a_change_and_is_kept_by_name() -> None:
    cache = IdentityCache()
    assert cache.saw(identity()) is True
    assert "prod-aws" in cache
    assert cache.names() == {"prod-aws"}
    entry = cache.get("prod-aws")
    assert entry is not None
    assert entry["spec"] == {"provider": "aws-iam", "allowedNamespaces": ["payments"]}
    assert entry["generation"] == 1


def test_the_same_generation_again_is_no_change_but_a_new_one_is() -> None:
    cache = IdentityCache()
    cache.saw(identity(generation=1))
    assert cache.saw(identity(generation=1, principal="arn:aws:iam::1:role/r")) is False
    assert cache.saw(identity(generation=2)) is True
    entry = cache.get("prod-aws")
    assert entry is not None and entry["generation"] == 2


def test_only_the_status_fields_the_operator_keeps_are_cached_with_the_conditions() -> None:
    cache = IdentityCache()
    ready = {"type": "Ready", "status": "True", "reason": "Valid"}
    cache.saw(identity(bindings=3, readyBindings=2, principal="oid-1", conditions=[ready],
                       observedGeneration=1, other="x"))
    entry = cache.get("prod-aws")
    assert entry is not None
    assert entry["status"] == {"bindings": 3, "readyBindings": 2, "principal": "oid-1",
                               "operators": None}
    assert entry["conditions"] == [ready]


def test_the_kept_spec_is_a_copy_the_caller_cannot_change_afterwards() -> None:
    cache = IdentityCache()
    body = identity()
    cache.saw(body)
    body["spec"]["allowedNamespaces"].append("sandbox")
    entry = cache.get("prod-aws")
    assert entry is not None
    assert entry["spec"]["allowedNamespaces"] == ["payments"]


def test_an_identity_without_status_or_spec_is_kept_with_empty_ones() -> None:
    cache = IdentityCache()
    cache.saw({"metadata": {"name": "bare"}})
    assert cache.get("bare") == {
        "spec": {}, "status": {"bindings": None, "readyBindings": None, "principal": None,
                   "operators": None},
        "conditions": [], "generation": None,
    }


def test_a_deleted_identity_is_forgotten_and_seeing_it_again_is_a_change() -> None:
    cache = IdentityCache()
    cache.saw(identity())
    cache.gone("prod-aws")
    cache.gone("never-seen")
    assert "prod-aws" not in cache
    assert cache.get("prod-aws") is None
    assert cache.saw(identity()) is True


def test_clear_forgets_every_identity() -> None:
    cache = IdentityCache()
    cache.saw(identity("a"))
    cache.saw(identity("b"))
    cache.clear()
    assert cache.names() == set()
    assert cache.saw(identity("a")) is True
