"""Which Phase service accounts an identity may mint for, and where: through the real operator.

With ``credentials.source: Operator`` every binding proves the operator's own principal, so an
identity mints only for the accounts its ``spec.serviceAccounts`` lists, in the namespaces each
entry allows. A refusal costs no exchange; taking an entry away deletes the Secret promptly.
Tokens here live 600 s, so a Secret that goes within seconds went because of the change.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from support.operator import OperatorProcess
from support.peers.helpers import aws_account
from support.peers.phase_model import ServiceAccount

from tests.operator.harness import GROUP, NAMESPACE, VERSION, Cluster, wait_for

pytestmark = pytest.mark.usefixtures("loopback_only")

#: How long a revocation may take on a busy machine.
PROMPTLY = 20
#: An account no binding here asks for.
UNUSED = "11111111-2222-3333-4444-555555555555"


def apply_identity(cluster: Cluster, accounts: list[dict[str, Any]] | None, **spec: Any) -> None:
    """The harness identity listing exactly ``accounts`` (None: no serviceAccounts at all)."""
    body = cluster.identity_body(**spec)
    del body["spec"]["serviceAccounts"]
    if accounts is not None:
        body["spec"]["serviceAccounts"] = accounts
    cluster.custom.create_cluster_custom_object(GROUP, VERSION, "externalidentities", body)


def patch_accounts(cluster: Cluster, accounts: list[dict[str, Any]]) -> None:
    cluster.custom.patch_cluster_custom_object(
        GROUP, VERSION, "externalidentities", "local-aws", {"spec": {"serviceAccounts": accounts}}
    )


def identity_ready(cluster: Cluster) -> dict[str, Any] | None:
    identity = cluster.custom.get_cluster_custom_object(
        GROUP, VERSION, "externalidentities", "local-aws")
    conditions = (identity.get("status") or {}).get("conditions") or []
    return next((c for c in conditions if c["type"] == "Ready"), None)


def wait_identity_ready(cluster: Cluster, reason: str) -> dict[str, Any]:
    return wait_for(lambda: (c := identity_ready(cluster)) is not None
                    and c["reason"] == reason and c, message=f"identity Ready reason {reason}")


def refused(cluster: Cluster, says: str, name: str = "payments-api") -> dict[str, Any]:
    condition = cluster.wait_ready("ServiceAccountNotAllowed", name=name)
    assert condition["status"] == "False"
    assert says in condition["message"], condition["message"]
    return condition


def test_a_namespace_the_identity_allows_but_the_entry_does_not_is_refused_without_an_exchange(
    cluster: Cluster, account: ServiceAccount, start_operator: Callable[..., OperatorProcess],
) -> None:
    apply_identity(cluster, [{"id": UNUSED}, {"id": account.id, "namespaces": ["orders"]}],
                   allowedNamespaces=[NAMESPACE, "orders"])
    cluster.apply_binding(account.id, ttl=600)
    start_operator()

    condition = refused(cluster, f"serviceAccounts[1] (id {account.id}) allows namespaces "
                                 "[orders]")
    assert f"add {NAMESPACE!r} to that entry's namespaces" in condition["message"]
    assert cluster.secret() is None
    assert cluster.phase.records.requests == [], "a refused binding costs no exchange"


def test_an_account_the_identity_does_not_list_is_refused_without_an_exchange(
    cluster: Cluster, account: ServiceAccount, start_operator: Callable[..., OperatorProcess],
) -> None:
    apply_identity(cluster, [{"id": UNUSED, "namespaces": [NAMESPACE]}])
    cluster.apply_binding(account.id, ttl=600)
    start_operator()

    refused(cluster, f"does not list service account {account.id} in spec.serviceAccounts")
    assert cluster.secret() is None
    assert cluster.phase.records.requests == []


def test_the_star_entry_allows_any_account_in_its_namespaces(
    cluster: Cluster, account: ServiceAccount, start_operator: Callable[..., OperatorProcess],
) -> None:
    other, _ = aws_account(cluster.phase, cluster.sts, max_ttl=3600)
    apply_identity(cluster, [{"id": "*", "namespaces": ["pay*"]}])
    cluster.apply_binding(account.id, ttl=600)
    cluster.apply_binding(other.id, name="other-api", secret="other-token", ttl=600)
    start_operator()

    cluster.wait_ready("TokenIssued")
    cluster.wait_ready("TokenIssued", name="other-api")
    minted_for = {token.service_account_id for token in cluster.phase.records.tokens}
    assert minted_for == {account.id, other.id}


def test_an_operator_identity_listing_no_accounts_mints_for_none_and_says_how_to_list_them(
    cluster: Cluster, account: ServiceAccount, start_operator: Callable[..., OperatorProcess],
) -> None:
    apply_identity(cluster, None)
    cluster.apply_binding(account.id, ttl=600)
    start_operator()

    identity = wait_identity_ready(cluster, "ServiceAccountNotAllowed")
    assert identity["status"] == "False"
    assert identity["message"].startswith(
        "no binding can get a token until spec.serviceAccounts lists the Phase service accounts")
    assert "e.g. serviceAccounts: [{id: " in identity["message"]
    refused(cluster, f"ask an admin to add {{id: {account.id}, namespaces: [{NAMESPACE}]}} to "
                     "spec.serviceAccounts")
    assert cluster.phase.records.requests == []

    patch_accounts(cluster, [{"id": account.id, "namespaces": [NAMESPACE]}])
    assert wait_identity_ready(cluster, "Valid")["status"] == "True"
    cluster.wait_ready("TokenIssued")


@pytest.mark.parametrize("remaining", [
    [{"id": UNUSED}],
    [{"id": UNUSED}, {"id": "<account>", "namespaces": ["team-*"]}],
    [],
], ids=["entry removed", "entry narrowed", "every entry removed"])
def test_taking_the_account_away_deletes_the_secret_within_one_wake_up(
    cluster: Cluster, account: ServiceAccount, start_operator: Callable[..., OperatorProcess],
    remaining: list[dict[str, Any]],
) -> None:
    apply_identity(cluster, [{"id": UNUSED}, {"id": account.id, "namespaces": [NAMESPACE]}])
    cluster.apply_binding(account.id, ttl=600)
    start_operator()
    wait_for(cluster.token, message="first token")
    minted = len(cluster.phase.records.tokens)

    patch_accounts(cluster, [{**entry, "id": entry["id"].replace("<account>", account.id)}
                             for entry in remaining])
    wait_for(lambda: cluster.secret() is None, timeout=PROMPTLY, message="Secret deleted")
    refused(cluster, "Secret phase-service-token deleted")
    assert len(cluster.phase.records.tokens) == minted, "a revoked binding must not mint"
    status = cluster.binding()["status"]
    assert "expiresAt" not in status and "secretName" not in status


def test_listing_another_account_issues_its_token_and_re_mints_none_still_allowed(
    cluster: Cluster, account: ServiceAccount, start_operator: Callable[..., OperatorProcess],
) -> None:
    other, _ = aws_account(cluster.phase, cluster.sts, max_ttl=3600)
    apply_identity(cluster, [{"id": account.id}])
    cluster.apply_binding(account.id, ttl=600)
    cluster.apply_binding(other.id, name="other-api", secret="other-token", ttl=600)
    start_operator()
    first = wait_for(cluster.token, message="first token")
    refused(cluster, f"does not list service account {other.id}", name="other-api")

    patch_accounts(cluster, [{"id": account.id}, {"id": other.id, "namespaces": [NAMESPACE]}])
    cluster.wait_ready("TokenIssued", name="other-api", timeout=PROMPTLY)
    assert cluster.token() == first, "a token still allowed is kept"
    minted_for = [token.service_account_id for token in cluster.phase.records.tokens]
    assert minted_for == [account.id, other.id]
