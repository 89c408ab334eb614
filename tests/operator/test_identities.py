"""ExternalIdentity status, unsupported credential sources, and identity edits across restarts.

Each test runs the real operator process against the API emulator and the peers.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from support.operator import OperatorProcess
from support.peers.phase_model import ServiceAccount

from tests.operator.harness import GROUP, NAMESPACE, VERSION, Cluster, wait_for

pytestmark = pytest.mark.usefixtures("loopback_only")

IDENTITIES = "externalidentities"
BINDINGS = "serviceaccountbindings"
RESUMED = "payments/payments-api: resumed the token in Secret phase-service-token"


def identity(cluster: Cluster, name: str = "local-aws") -> dict[str, Any]:
    return cluster.custom.get_cluster_custom_object(GROUP, VERSION, IDENTITIES, name)


def identity_status(cluster: Cluster, name: str = "local-aws") -> dict[str, Any]:
    return identity(cluster, name).get("status") or {}


def identity_ready(cluster: Cluster, name: str = "local-aws") -> dict[str, Any] | None:
    conditions = identity_status(cluster, name).get("conditions") or []
    return next((c for c in conditions if c["type"] == "Ready"), None)


def bindings_count_is(
    cluster: Cluster, expected: int, name: str = "local-aws"
) -> Callable[[], bool]:
    """A predicate: ``status.bindings`` of the identity is exactly ``expected``."""

    def check() -> bool:
        count = identity_status(cluster, name).get("bindings")
        return count is not None and count == expected

    return check


def patch_identity(cluster: Cluster, spec: dict[str, Any], name: str = "local-aws") -> None:
    cluster.custom.patch_cluster_custom_object(GROUP, VERSION, IDENTITIES, name, {"spec": spec})


def delete_binding(cluster: Cluster, name: str) -> None:
    cluster.custom.delete_namespaced_custom_object(GROUP, VERSION, NAMESPACE, BINDINGS, name)


def binding_gone(cluster: Cluster, name: str) -> Callable[[], bool]:
    return lambda: cluster.kube.get(f"{GROUP}/{VERSION}/{BINDINGS}", NAMESPACE, name) is None


# -- status.bindings --------------------------------------------------------------------------


def test_status_bindings_counts_the_bindings_referencing_the_identity(
    cluster: Cluster,
    account: ServiceAccount,
    start_operator: Callable[..., OperatorProcess],
) -> None:
    cluster.apply_identity()
    cluster.apply_identity("other-aws")
    start_operator()
    wait_for(bindings_count_is(cluster, 0), message="status.bindings 0 with no bindings")

    cluster.apply_binding(account.id, name="app-a", secret="token-a", ttl=600)
    cluster.apply_binding(account.id, name="app-b", secret="token-b", ttl=600)
    cluster.apply_binding(
        account.id, name="elsewhere", secret="token-c", ttl=600, identity="other-aws"
    )
    wait_for(bindings_count_is(cluster, 2), message="status.bindings 2 after two bindings")
    wait_for(bindings_count_is(cluster, 1, "other-aws"), message="other-aws counts its own")

    delete_binding(cluster, "app-b")
    wait_for(binding_gone(cluster, "app-b"), message="binding app-b gone")
    wait_for(bindings_count_is(cluster, 1), message="status.bindings 1 after a deletion")
    assert identity_status(cluster, "other-aws")["bindings"] == 1


def test_status_bindings_is_corrected_after_a_restart(
    cluster: Cluster,
    account: ServiceAccount,
    start_operator: Callable[..., OperatorProcess],
) -> None:
    """Bindings created while the operator was down are counted when it starts again."""
    cluster.apply_identity()
    cluster.apply_binding(account.id, name="app-a", secret="token-a", ttl=600)
    first = start_operator()
    cluster.wait_ready("TokenIssued", name="app-a")
    wait_for(bindings_count_is(cluster, 1), message="status.bindings 1")
    first.stop()

    cluster.apply_binding(account.id, name="app-b", secret="token-b", ttl=600)
    cluster.apply_binding(account.id, name="app-c", secret="token-c", ttl=600)
    assert identity_status(cluster)["bindings"] == 1, "nothing counts while stopped"
    start_operator()
    wait_for(bindings_count_is(cluster, 3), timeout=30, message="status.bindings 3 after restart")

    delete_binding(cluster, "app-a")
    wait_for(binding_gone(cluster, "app-a"), message="binding app-a gone")
    wait_for(bindings_count_is(cluster, 2), message="status.bindings 2 after a deletion")


def test_status_bindings_drops_a_binding_deleted_while_the_operator_was_down(
    cluster: Cluster,
    account: ServiceAccount,
    start_operator: Callable[..., OperatorProcess],
) -> None:
    cluster.apply_identity()
    cluster.apply_binding(account.id, name="app-a", secret="token-a", ttl=600)
    cluster.apply_binding(account.id, name="app-b", secret="token-b", ttl=600)
    first = start_operator()
    wait_for(bindings_count_is(cluster, 2), message="status.bindings 2")
    first.stop()

    delete_binding(cluster, "app-b")  # its finalizer waits for the operator
    start_operator()
    wait_for(binding_gone(cluster, "app-b"), timeout=30, message="binding app-b gone")
    wait_for(bindings_count_is(cluster, 1), message="status.bindings 1 after restart")


# -- credentials.source ServiceAccount --------------------------------------------------------


def test_a_per_workload_identity_is_ready_and_never_falls_back_to_the_operator(
    cluster: Cluster,
    account: ServiceAccount,
    start_operator: Callable[..., OperatorProcess],
) -> None:
    cluster.apply_identity(credentials={"source": "ServiceAccount"})
    cluster.apply_binding(account.id, ttl=600, serviceAccountName="payments-api")
    start_operator()

    ready = wait_for(
        lambda: (c := identity_ready(cluster)) is not None and c, message="identity Ready"
    )
    assert (ready["status"], ready["reason"]) == ("True", "Valid")
    assert "not supported" not in ready["message"]
    assert "serviceAccountName" in ready["message"]
    assert identity_status(cluster).get("observedGeneration") == identity(cluster)["metadata"][
        "generation"
    ]

    condition = cluster.wait_ready("CredentialsUnavailable")
    assert condition["status"] == "False"
    assert "ServiceAccount payments/payments-api does not exist" in condition["message"]
    assert cluster.secret() is None
    assert cluster.phase.records.requests == [], "no request may reach the token service"
    assert cluster.phase.records.tokens == []


def test_switching_to_operator_credentials_makes_the_identity_and_binding_ready(
    cluster: Cluster,
    account: ServiceAccount,
    start_operator: Callable[..., OperatorProcess],
) -> None:
    cluster.apply_identity(credentials={"source": "ServiceAccount"})
    cluster.apply_binding(account.id, ttl=600)  # names no ServiceAccount
    start_operator()
    assert "spec.serviceAccountName" in cluster.wait_ready("InvalidSpec")["message"]

    patch_identity(cluster, {"credentials": {"source": "Operator"}})
    wait_for(
        lambda: (c := identity_ready(cluster)) is not None and c["status"] == "True",
        message="identity Ready=True",
    )
    cluster.wait_ready("TokenIssued")
    assert cluster.phase.records.find_token(cluster.token() or "") is not None


# -- identity edits while the operator is stopped ---------------------------------------------


def test_an_identity_changed_while_stopped_gets_its_tokens_reissued(
    cluster: Cluster,
    account: ServiceAccount,
    start_operator: Callable[..., OperatorProcess],
) -> None:
    cluster.apply_identity(defaultTTL=600)
    cluster.apply_binding(account.id, ttl=None)
    first = start_operator()
    cluster.wait_ready("TokenIssued")
    old = cluster.token()
    assert cluster.phase.records.find_token(old or "").ttl == 600
    first.stop()

    patch_identity(cluster, {"defaultTTL": 900})
    second = start_operator()
    new = wait_for(
        lambda: (t := cluster.token()) not in (None, old) and t,
        timeout=30,
        message="a token minted by the restarted operator",
    )
    issued = cluster.phase.records.find_token(new)
    assert issued is not None and issued.ttl == 900
    wait_for(lambda: cluster.binding()["status"].get("ttl") == 900, message="ttl 900 in status")
    assert RESUMED not in second.output, "a token for the old defaultTTL must not be resumed"


def test_a_description_change_while_stopped_does_not_reissue_tokens(
    cluster: Cluster,
    account: ServiceAccount,
    start_operator: Callable[..., OperatorProcess],
) -> None:
    cluster.apply_identity(defaultTTL=600, description="before")
    cluster.apply_binding(account.id, ttl=None)
    first = start_operator()
    cluster.wait_ready("TokenIssued")
    token = cluster.token()
    minted = len(cluster.phase.records.tokens)
    first.stop()

    patch_identity(cluster, {"description": "after"})
    second = start_operator()
    wait_for(lambda: RESUMED in second.output, timeout=30, message="the token resumed")
    assert len(cluster.phase.records.tokens) == minted, "a description change re-minted"
    assert cluster.token() == token
    assert cluster.ready()["reason"] == "TokenIssued"


def test_the_identity_shows_the_principal_its_exchanges_proved(
    cluster: Cluster, account: ServiceAccount, start_operator: Callable[..., OperatorProcess],
) -> None:
    cluster.apply_identity()
    cluster.apply_binding(account.id, ttl=600)
    start_operator()
    principal = wait_for(lambda: identity_status(cluster).get("principal"),
                         message="the identity's principal")
    assert principal == cluster.sts.assumed_role_arn
