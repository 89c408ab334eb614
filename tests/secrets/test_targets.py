"""Where a binding's token goes: the Secret its spec names, owned by the binding."""

from __future__ import annotations

import subprocess
import sys
from typing import Any

import pytest

from external_identity.api.specs import parse_binding
from external_identity.secrets.data import OwnerReference, SecretKeys
from external_identity.secrets.targets import read_target, secret_target

UID = "5b0c6a9e-0000-4000-8000-000000000001"
ACCOUNT_ID = "0f1a2b3c-4d5e-6789-abcd-ef0123456789"


def spec(**secret: Any) -> dict[str, Any]:
    return {
        "externalIdentityRef": {"name": "prod-aws"},
        "serviceAccountId": ACCOUNT_ID,
        "secret": {"name": "phase-service-token", **secret},
    }


def test_a_binding_targets_the_secret_its_spec_names_in_its_own_namespace() -> None:
    target = secret_target(namespace="payments", name="payments-api", uid=UID,
                           binding=parse_binding(spec()), issued_for="fp-1")
    assert (target.namespace, target.name, target.ref) == (
        "payments", "phase-service-token", "payments/phase-service-token")
    assert (target.owner_key, target.identity, target.issued_for) == (UID, "prod-aws", "fp-1")
    assert (target.keys, target.type, target.labels, target.annotations) == (
        SecretKeys(), "Opaque", {}, {})


def test_the_binding_owns_its_secret_so_deleting_the_binding_deletes_it() -> None:
    target = secret_target(namespace="payments", name="payments-api", uid=UID,
                           binding=parse_binding(spec()), issued_for="")
    assert target.owner == OwnerReference(
        api_version="externalidentity.dev/v1alpha1", kind="ServiceAccountBinding",
        name="payments-api", uid=UID,
    )


def test_keys_format_type_labels_and_annotations_come_from_the_spec() -> None:
    binding = parse_binding(spec(
        keys={"token": "phase-token", "bearerToken": "authorization", "expiresAt": "expires",
              "host": "host"},
        format="PhaseEnv", type="example.com/phase-token",
        labels={"team": "payments"}, annotations={"reloader.stakater.com/match": "true"},
    ))
    target = secret_target(namespace="payments", name="payments-api", uid=UID, binding=binding,
                           issued_for="")
    assert target.keys == SecretKeys(token="phase-token", bearer_token="authorization",
                                     expires_at="expires", host="host", phase_env=True)
    assert target.type == "example.com/phase-token"
    assert target.labels == {"team": "payments"}
    assert target.annotations == {"reloader.stakater.com/match": "true"}


def test_the_token_name_goes_with_the_target_when_given() -> None:
    named = secret_target(namespace="payments", name="payments-api", uid=UID,
                          binding=parse_binding(spec()), issued_for="", token_name="aws-iam")
    unnamed = secret_target(namespace="payments", name="payments-api", uid=UID,
                            binding=parse_binding(spec()), issued_for="")
    assert (named.token_name, unnamed.token_name) == ("aws-iam", "")


def test_the_secret_to_read_back_is_the_one_a_write_would_go_to_without_a_fingerprint() -> None:
    read = read_target(namespace="payments", name="payments-api", uid=UID,
                       spec=spec(keys={"host": "host"}))
    written = secret_target(namespace="payments", name="payments-api", uid=UID,
                            binding=parse_binding(spec(keys={"host": "host"})), issued_for="fp")
    assert read is not None
    assert (read.issued_for, read.token_name) == ("", "")
    assert (read.namespace, read.name, read.owner_key, read.keys, read.owner) == (
        written.namespace, written.name, written.owner_key, written.keys, written.owner)


@pytest.mark.parametrize("broken", [
    {"externalIdentityRef": {"name": "prod-aws"}, "serviceAccountId": ACCOUNT_ID},
    {**spec(), "serviceAccountId": "not-a-uuid"},
    spec(name="Not A DNS Name"),
    spec(keys={"token": "has/slash"}),
    {},
])
def test_a_spec_that_does_not_parse_has_no_secret_to_read(broken: dict[str, Any]) -> None:
    assert read_target(namespace="payments", name="payments-api", uid=UID, spec=broken) is None


def test_the_namespace_always_comes_from_the_binding_never_from_its_spec() -> None:
    target = read_target(namespace="payments", name="payments-api", uid=UID,
                         spec={**spec(), "namespace": "kube-system"})
    assert target is not None and target.namespace == "payments"


def test_this_module_loads_no_io_library() -> None:
    probe = (
        "import sys, external_identity.secrets.targets\n"
        "print(sorted({m.split('.')[0] for m in sys.modules}))\n"
    )
    result = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True,
                            check=True)
    loaded = set(eval(result.stdout))
    assert "pydantic" in loaded
    assert loaded.isdisjoint({"kubernetes", "urllib3", "httpx", "botocore", "azure", "kopf"})
