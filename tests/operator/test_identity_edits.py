"""Identity settings that do not change the token it mints never re-mint it; ``tokenName`` is
what the Secret says Phase calls the token."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
import trustme
from support.operator import OperatorProcess
from support.peers.phase_model import ServiceAccount

from external_identity.secrets.data import TOKEN_NAME_ANNOTATION
from tests.operator.harness import Cluster, wait_for
from tests.operator.test_identities import RESUMED, patch_identity

NOT_MINTING: dict[str, dict[str, Any]] = {
    "token name": {"tokenName": "payments-ci"},
    "ca bundle": {"tokenService": {"caBundle": trustme.CA().cert_pem.bytes().decode()}},
    "timeout": {"tokenService": {"timeoutSeconds": 40}},
}


@pytest.mark.parametrize("change", NOT_MINTING.values(), ids=NOT_MINTING.keys())
def test_an_identity_edit_that_does_not_change_the_token_does_not_reissue_it(
    cluster: Cluster, account: ServiceAccount, start_operator: Callable[..., OperatorProcess],
    change: dict[str, Any],
) -> None:
    cluster.apply_identity(defaultTTL=600)
    cluster.apply_binding(account.id, ttl=None)
    first = start_operator()
    cluster.wait_ready("TokenIssued")
    token, minted = cluster.token(), len(cluster.phase.records.tokens)
    first.stop()

    patch_identity(cluster, change)
    second = start_operator()
    wait_for(lambda: RESUMED in second.output, timeout=30, message="the token resumed")
    assert len(cluster.phase.records.tokens) == minted, f"{change} re-minted the token"
    assert cluster.token() == token


def _token_name(cluster: Cluster) -> str | None:
    secret = cluster.secret()
    return None if secret is None else (secret.metadata.annotations or {}).get(
        TOKEN_NAME_ANNOTATION)


def test_the_secret_names_the_token_as_phase_does_by_default_the_provider(
    cluster: Cluster, account: ServiceAccount, start_operator: Callable[..., OperatorProcess],
) -> None:
    cluster.apply_identity()
    cluster.apply_binding(account.id, ttl=600)
    start_operator()
    assert wait_for(lambda: _token_name(cluster), message="the token name") == "aws-iam"


def test_a_new_token_name_reaches_the_secret_with_the_next_token(
    cluster: Cluster, account: ServiceAccount, start_operator: Callable[..., OperatorProcess],
) -> None:
    cluster.apply_identity(tokenName="payments-ci")
    cluster.apply_binding(account.id, ttl=600)
    start_operator()
    assert wait_for(lambda: _token_name(cluster), message="the token name") == "payments-ci"
    patch_identity(cluster, {"tokenName": "payments-prod", "defaultTTL": 900})
    wait_for(lambda: _token_name(cluster) == "payments-prod", message="the new token name")
