"""Fingerprints: what a token was issued for, and what a failed attempt depended on."""

from __future__ import annotations

import hashlib
import json
from typing import Any

import pytest

from external_identity.api.specs import parse_binding, parse_identity
from external_identity.controller.decide.fingerprints import inputs_key, issued_for
from tests.controller.decide.situations import IDENTITY_NAME, binding_spec, identity_spec

OTHER = "11111111-2222-3333-4444-555555555555"


def fingerprint(binding: dict[str, Any] | None = None, identity: dict[str, Any] | None = None,
                name: str = IDENTITY_NAME) -> str:
    return issued_for(parse_binding(binding or binding_spec()), name,
                      parse_identity(identity or identity_spec()))


def reordered(document: Any) -> Any:
    """The same document with every mapping's keys in reverse order."""
    if isinstance(document, dict):
        return {key: reordered(document[key]) for key in reversed(list(document))}
    return document


def test_issued_for_does_not_depend_on_the_order_of_keys() -> None:
    binding, identity = binding_spec(ttl=600), identity_spec(tokenName="ci")
    assert list(reordered(identity)) != list(identity)
    assert fingerprint(reordered(binding), reordered(identity)) == fingerprint(binding, identity)


def test_inputs_key_does_not_depend_on_the_order_of_keys() -> None:
    body = {"metadata": {"name": IDENTITY_NAME}, "spec": identity_spec(description="d")}
    assert inputs_key(4, reordered(body)) == inputs_key(4, body)


MINTING_CHANGES: dict[str, tuple[dict[str, Any], dict[str, Any], str]] = {
    "service account": (
        {"serviceAccountId": "11111111-2222-3333-4444-555555555555"}, {}, IDENTITY_NAME),
    "binding ttl": ({"ttl": 600}, {}, IDENTITY_NAME),
    "identity name": ({}, {}, "staging-aws"),
    "provider": ({}, {"provider": "azure", "aws": None,
                      "azure": {"tenantId": "11111111-2222-3333-4444-555555555555"}},
                 IDENTITY_NAME),
    "token service host": ({}, {"tokenService": {"host": "https://other.example.com"}},
                           IDENTITY_NAME),
    "token service path": ({}, {"tokenService": {"host": "https://phase.example.com",
                                                 "pathPrefix": "/v2"}}, IDENTITY_NAME),
    "default ttl": ({}, {"defaultTTL": 900}, IDENTITY_NAME),
    "aws region": ({}, {"aws": {"region": "us-east-1"}}, IDENTITY_NAME),
    "sts endpoint": ({}, {"aws": {"region": "eu-west-1",
                                  "stsEndpoint": "https://sts.eu-west-1.amazonaws.com"}},
                     IDENTITY_NAME),
}


@pytest.mark.parametrize("change", MINTING_CHANGES.values(), ids=MINTING_CHANGES.keys())
def test_issued_for_changes_with_each_minting_input(
    change: tuple[dict[str, Any], dict[str, Any], str],
) -> None:
    binding, identity, name = change
    assert fingerprint(binding_spec(**binding), identity_spec(**identity), name) != fingerprint()


def test_issued_for_ignores_the_case_of_the_service_account_id() -> None:
    upper = binding_spec(serviceAccountId=binding_spec()["serviceAccountId"].upper())
    assert fingerprint(upper) == fingerprint()


@pytest.mark.parametrize(
    ("binding", "identity"),
    [({}, {"description": "owned by payments"}),
     ({}, {"allowedNamespaces": ["payments"]}),
     ({}, {"serviceAccounts": [{"id": "*"}, {"id": OTHER, "namespaces": ["payments"]}]}),
     ({}, {"serviceAccounts": None}),
     ({"refreshPolicy": {"refreshAtPercent": 50}}, {}),
     ({"serviceAccountName": "api"}, {}),
     ({}, {"tokenName": "ci"}),
     ({}, {"tokenService": {"host": "https://phase.example.com", "caBundle": "PEM"}}),
     ({}, {"tokenService": {"host": "https://phase.example.com", "timeoutSeconds": 40}})],
    ids=["description", "allowed namespaces", "service accounts", "no service accounts",
         "refresh policy", "service account name",
         "token name", "ca bundle", "timeout"],
)
def test_issued_for_ignores_settings_that_do_not_change_the_token(
    binding: dict[str, Any], identity: dict[str, Any],
) -> None:
    assert fingerprint(binding_spec(**binding), identity_spec(**identity)) == fingerprint()


@pytest.mark.parametrize(
    ("generation", "spec"),
    [(2, identity_spec()), (1, identity_spec(description="owned by payments")),
     (1, identity_spec(allowedNamespaces=["payments"]))],
    ids=["generation", "description", "allowed namespaces"],
)
def test_inputs_key_changes_with_the_generation_or_any_identity_field(
    generation: int, spec: dict[str, Any],
) -> None:
    before = inputs_key(1, {"spec": identity_spec()})
    assert inputs_key(generation, {"spec": spec}) != before


def test_inputs_key_tells_a_missing_identity_from_a_present_one() -> None:
    assert inputs_key(1, None) != inputs_key(1, {"spec": identity_spec()})
    assert inputs_key(1, None) == inputs_key(1, None)


def test_per_workload_tokens_answer_the_service_account_and_audience_that_proved_them() -> None:
    workload = identity_spec(credentials={"source": "ServiceAccount"})
    api = fingerprint(binding_spec(serviceAccountName="api"), workload)
    assert fingerprint(binding_spec(serviceAccountName="worker"), workload) != api
    other_audience = identity_spec(credentials={"source": "ServiceAccount", "audience": "x"})
    assert fingerprint(binding_spec(serviceAccountName="api"), other_audience) != api


def test_tokens_minted_with_default_settings_keep_the_fingerprint_they_were_written_with() -> None:
    """Releases that fingerprinted every identity field wrote this digest for the defaults:
    leaving tokenName, caBundle and timeoutSeconds out must not re-mint their tokens, nor may
    listing serviceAccounts (which those releases did not have) on upgrade."""
    identity = parse_identity(identity_spec())
    binding = parse_binding(binding_spec())
    every_field = {
        "serviceAccountId": binding.service_account_id.lower(),
        "ttl": binding.ttl,
        "identity": IDENTITY_NAME,
        "identitySpec": identity.model_dump(mode="json", exclude={
            "description": True, "allowed_namespaces": True, "service_accounts": True,
            "credentials": {"audience"}}),
    }
    canonical = json.dumps(every_field, sort_keys=True, separators=(",", ":"), default=str)
    assert fingerprint() == hashlib.sha256(canonical.encode()).hexdigest()[:32]
