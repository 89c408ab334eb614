"""An identity says whether the operator's credentials work, and whom they prove, unasked."""

from __future__ import annotations

from collections.abc import Callable

import pytest
from support.operator import OperatorProcess
from support.peers.phase_model import ServiceAccount

from tests.operator.harness import Cluster, wait_for
from tests.operator.test_identities import identity_ready, identity_status

pytestmark = pytest.mark.usefixtures("loopback_only")

CREDENTIAL_KEYS = ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN")


def test_an_identity_shows_its_principal_before_any_exchange(
    cluster: Cluster, account: ServiceAccount, start_operator: Callable[..., OperatorProcess],
) -> None:
    cluster.apply_identity()
    start_operator()

    principal = wait_for(lambda: identity_status(cluster).get("principal"),
                         message="status.principal from the probe")
    assert principal.startswith("arn:aws:sts::") and ":assumed-role/" in principal
    assert cluster.phase.records.requests == [], "a probe must not exchange"
    assert identity_ready(cluster)["status"] == "True"


def test_ready_bindings_are_counted_apart_from_bindings(
    cluster: Cluster, account: ServiceAccount, start_operator: Callable[..., OperatorProcess],
) -> None:
    cluster.apply_identity()
    cluster.apply_binding(account.id, name="works", secret="works", ttl=600)
    cluster.apply_binding("00000000-0000-4000-8000-000000000000", name="unknown",
                          secret="unknown", ttl=600)
    start_operator()
    cluster.wait_ready("TokenIssued", name="works")

    status = wait_for(lambda: (s := identity_status(cluster)).get("readyBindings") == 1
                      and s.get("bindings") == 2 and s, message="one of two bindings Ready")
    assert status["bindings"] == 2


def test_missing_operator_credentials_make_the_identity_not_ready_with_the_fix(
    cluster: Cluster, operator_env: dict[str, str],
    start_operator: Callable[..., OperatorProcess],
) -> None:
    cluster.apply_identity()
    env = {key: value for key, value in operator_env.items() if key not in CREDENTIAL_KEYS}
    start_operator(env=env)

    condition = wait_for(
        lambda: (c := identity_ready(cluster)) and c["reason"] == "CredentialsUnavailable" and c,
        message="Ready=False CredentialsUnavailable",
    )
    assert condition["status"] == "False"
    assert "no AWS credentials found" in condition["message"]
    assert "IRSA" in condition["message"], "the condition names the fix"
    assert cluster.phase.records.requests == []
