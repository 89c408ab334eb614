"""What a provider hands to the token service client: a proof that never shows its payload."""

from __future__ import annotations

import dataclasses
import subprocess
import sys
import typing

import pytest

from external_identity.api.specs import IdentitySpec
from external_identity.exchange.proofs import AWS_IAM, AZURE, Proof, ProviderName

SIGNED = "AWS4-HMAC-SHA256 Credential=ASIAQWERTYUIOPASDFGH/20300102/us-east-1/sts/aws4_request"


def test_a_proofs_repr_never_shows_the_signed_payload() -> None:
    proof = Proof(provider=AWS_IAM, path="aws/iam/auth/",
                  payload={"awsIam": {"httpRequestHeaders": SIGNED}},
                  principal="arn:aws:sts::123456789012:assumed-role/r/s")
    shown = repr(proof)
    assert SIGNED not in shown and "httpRequestHeaders" not in shown
    assert "arn:aws:sts::123456789012:assumed-role/r/s" in shown


def test_a_proof_names_no_principal_unless_told_and_cannot_be_changed() -> None:
    proof = Proof(provider=AZURE, path="azure/entra/auth/", payload={"azureEntra": {"jwt": "x"}})
    assert proof.principal is None
    with pytest.raises(dataclasses.FrozenInstanceError):
        proof.principal = "someone"  # type: ignore[misc]


def test_the_provider_names_are_the_ones_an_identity_spec_accepts() -> None:
    spec_names = typing.get_args(IdentitySpec.model_fields["provider"].annotation)
    assert set(typing.get_args(ProviderName)) == set(spec_names) == {AWS_IAM, AZURE}
    assert (AWS_IAM, AZURE) == ("aws-iam", "azure")


def test_this_module_loads_no_io_library() -> None:
    probe = (
        "import sys, external_identity.exchange.proofs\n"
        "print(sorted({m.split('.')[0] for m in sys.modules}))\n"
    )
    result = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True,
                            check=True)
    loaded = set(eval(result.stdout))
    assert "external_identity" in loaded
    assert loaded.isdisjoint({"kubernetes", "urllib3", "httpx", "botocore", "azure", "kopf"})
