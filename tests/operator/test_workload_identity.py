"""Per-workload identity through the real operator: each binding proves its own ServiceAccount.

The emulator issues the ServiceAccount tokens (its issuer is its own URL); the STS peer accepts
them only for the role whose trust names that ServiceAccount, the Entra peer only for the app
whose federated credential names it; the Phase peer trusts only those roles and apps. The
operator itself runs with the peer's static AWS credentials of another role, so any fallback
to its own credentials would show as an untrusted principal.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

import jwt
import pytest
from support.kube.server import KubeAPI
from support.operator import OperatorProcess
from support.peers.entra_peer import EntraClient, EntraPeer, FederatedCredential
from support.peers.phase_model import ServiceAccount
from support.peers.phase_server import PhaseServer

from tests.operator.harness import GROUP, NAMESPACE, VERSION, Cluster, free_port, metric, wait_for

pytestmark = pytest.mark.usefixtures("loopback_only")

AZURE_NAMESPACE = "orders"
ROLE = "payments-api"
ROLE_ARN_ANNOTATION = "eks.amazonaws.com/role-arn"
REFRESH_ANNOTATION = "externalidentity.dev/refresh"


def service_account(kube: KubeAPI, namespace: str, name: str, **annotations: str) -> None:
    kube.ensure_namespace(namespace)
    kube.core_v1().create_namespaced_service_account(
        namespace, {"metadata": {"name": name, "annotations": annotations}}
    )


def workload_identity(cluster: Cluster, name: str = "team-aws", **spec: Any) -> None:
    body = cluster.identity_body(name, credentials={"source": "ServiceAccount"}, **spec)
    cluster.custom.create_cluster_custom_object(GROUP, VERSION, "externalidentities", body)


def bind(cluster: Cluster, account_id: str, *, namespace: str = NAMESPACE,
         service_account_name: str = "api", **options: Any) -> None:
    body = cluster.binding_body(account_id, identity=options.pop("identity", "team-aws"),
                                ttl=options.pop("ttl", 600),
                                serviceAccountName=service_account_name, **options)
    body["metadata"]["namespace"] = namespace
    cluster.custom.create_namespaced_custom_object(
        GROUP, VERSION, namespace, "serviceaccountbindings", body)


def ready(cluster: Cluster, namespace: str, name: str = "payments-api") -> dict[str, Any] | None:
    binding = cluster.custom.get_namespaced_custom_object(
        GROUP, VERSION, namespace, "serviceaccountbindings", name)
    conditions = (binding.get("status") or {}).get("conditions") or []
    return next((c for c in conditions if c["type"] == "Ready"), None)


def wait_ready(cluster: Cluster, reason: str, namespace: str = NAMESPACE,
               name: str = "payments-api") -> dict[str, Any]:
    return wait_for(lambda: (c := ready(cluster, namespace, name)) is not None
                    and c["reason"] == reason and c, message=f"{namespace}/{name} {reason}")


@pytest.fixture
def aws_workload(cluster: Cluster) -> tuple[ServiceAccount, str]:
    """payments/api annotated with an IRSA role that trusts exactly it; Phase trusts the role."""
    role_arn = cluster.sts.create_workload_role(
        ROLE, issuer=cluster.kube.url, namespace=NAMESPACE, service_account="api")
    service_account(cluster.kube, NAMESPACE, "api", **{"eks.amazonaws.com/role-arn": role_arn})
    account = cluster.phase.add_service_account()
    cluster.phase.add_aws_identity(account, sts_endpoint=cluster.sts.endpoint,
                                   trusted_principals=[cluster.sts.trust_pattern(ROLE)])
    cluster.sts.web_identity.clear()
    return account, role_arn


@pytest.fixture
def azure_workload(cluster: Cluster, entra_peer: EntraPeer) -> tuple[ServiceAccount, EntraClient]:
    """orders/worker annotated with an Entra app federated to exactly it; Phase trusts its oid."""
    app = entra_peer.add_client(federated=(FederatedCredential(
        issuer=cluster.kube.url, subject=f"system:serviceaccount:{AZURE_NAMESPACE}:worker"),))
    service_account(cluster.kube, AZURE_NAMESPACE, "worker",
                    **{"azure.workload.identity/client-id": app.client_id})
    account = cluster.phase.add_service_account()
    cluster.phase.add_azure_identity(account, tenant_id=entra_peer.tenant_id,
                                     allowed_service_principals=[app.oid])
    body = cluster.identity_body("team-azure", provider="azure", credentials={
        "source": "ServiceAccount"}, azure={"tenantId": entra_peer.tenant_id,
                                            "authorityHost": entra_peer.authority_host})
    del body["spec"]["aws"]
    cluster.custom.create_cluster_custom_object(GROUP, VERSION, "externalidentities", body)
    return account, app


@pytest.fixture
def workload_env(operator_env: dict[str, str], entra_peer: EntraPeer) -> dict[str, str]:
    """The operator's environment: its own (other) AWS role, and trust for the Entra peer's CA."""
    return {**operator_env, "SSL_CERT_FILE": str(entra_peer.ca_bundle_path),
            "REQUESTS_CA_BUNDLE": str(entra_peer.ca_bundle_path)}


def token_requests(kube: KubeAPI, namespace: str, name: str) -> int:
    return sum(1 for call in kube.calls()
               if call.rbac_resource == "serviceaccounts/token" and call.namespace == namespace
               and call.name == name and call.status < 400)


def test_each_namespace_gets_tokens_proved_by_its_own_service_account(
    cluster: Cluster, aws_workload: tuple[ServiceAccount, str],
    azure_workload: tuple[ServiceAccount, EntraClient], entra_peer: EntraPeer,
    workload_env: dict[str, str], start_operator: Callable[..., OperatorProcess],
) -> None:
    aws_account, _ = aws_workload
    azure_account, app = azure_workload
    workload_identity(cluster)
    bind(cluster, aws_account.id)
    bind(cluster, azure_account.id, namespace=AZURE_NAMESPACE, identity="team-azure",
         service_account_name="worker")
    port = free_port()
    operator = start_operator("--metrics-port", str(port), env=workload_env)

    aws_ready = wait_ready(cluster, "TokenIssued")
    azure_ready = wait_ready(cluster, "TokenIssued", namespace=AZURE_NAMESPACE)
    assumed = f"arn:aws:sts::{cluster.sts.account_id}:assumed-role/{ROLE}/{NAMESPACE}.api"
    principals = {token.principal for token in cluster.phase.records.tokens}
    assert principals == {assumed, app.oid}, "the Phase peer saw each ServiceAccount's principal"
    statuses = {ns: cluster.custom.get_namespaced_custom_object(
        GROUP, VERSION, ns, "serviceaccountbindings", "payments-api")["status"]
        for ns in (NAMESPACE, AZURE_NAMESPACE)}
    assert statuses[NAMESPACE]["principal"] == assumed
    assert statuses[AZURE_NAMESPACE]["principal"] == app.oid
    assert [c.subject for c in cluster.sts.web_identity.calls if c.refused is None] == [
        f"system:serviceaccount:{NAMESPACE}:api"]
    assert [r.auth_method for r in entra_peer.token_requests()] == ["assertion"]
    assert cluster.token() is not None

    metrics = wait_for(lambda: _metrics(port), message="metrics")
    operator.stop()
    _assert_no_secret_material(cluster, entra_peer, operator.output, metrics,
                               [json.dumps(aws_ready), json.dumps(azure_ready),
                                json.dumps(statuses)])


def _metrics(port: int) -> str | None:
    import httpx

    try:
        return httpx.get(f"http://127.0.0.1:{port}/metrics", timeout=5).text
    except httpx.HTTPError:
        return None


def _assert_no_secret_material(cluster: Cluster, entra: EntraPeer, logs: str, metrics: str,
                               statuses: list[str]) -> None:
    """The leak scan: Kubernetes tokens, STS credentials, Entra tokens and Phase tokens."""
    kube_tokens = list(cluster.kube.emulator.signer.issued)
    sts_secrets = list(cluster.sts.web_identity.issued_secrets)
    entra_tokens = list(entra.minted)
    assert kube_tokens and sts_secrets and entra_tokens, "the scan must know what to look for"
    secrets = [*kube_tokens, *sts_secrets, *entra_tokens]
    for token in cluster.phase.records.tokens:
        secrets += [token.token, token.bearer_token, token.token_value]
    events = [e.to_dict() for ns in (NAMESPACE, AZURE_NAMESPACE)
              for e in cluster.core.list_namespaced_event(ns).items]
    surfaces = {"logs": logs, "metrics": metrics, "events": json.dumps(events, default=str),
                "status": "\n".join(statuses)}
    assert "issued a token" in logs, "the scan must see real operator logs"
    for surface, text in surfaces.items():
        for secret in secrets:
            assert secret not in text, f"secret material in {surface}"
        assert "eyJ" not in text, f"something JWT-shaped in {surface}"


def test_another_namespaces_or_an_unannotated_service_account_gets_no_token(
    cluster: Cluster, aws_workload: tuple[ServiceAccount, str],
    azure_workload: tuple[ServiceAccount, EntraClient],
    workload_env: dict[str, str], start_operator: Callable[..., OperatorProcess],
) -> None:
    aws_account, _ = aws_workload
    service_account(cluster.kube, NAMESPACE, "plain")
    workload_identity(cluster)
    bind(cluster, aws_account.id, name="borrows", secret="borrowed",
         service_account_name="worker")  # worker lives in orders, not payments
    bind(cluster, aws_account.id, name="plain", secret="plain", service_account_name="plain")
    bind(cluster, aws_account.id, name="unnamed", secret="unnamed", service_account_name=None)
    start_operator(env=workload_env)

    borrowed = wait_ready(cluster, "CredentialsUnavailable", name="borrows")
    assert f"ServiceAccount {NAMESPACE}/worker does not exist" in borrowed["message"]
    plain = wait_ready(cluster, "CredentialsUnavailable", name="plain")
    assert f"ServiceAccount {NAMESPACE}/plain has no eks.amazonaws.com/role-arn" in plain["message"]
    unnamed = wait_ready(cluster, "InvalidSpec", name="unnamed")
    assert "spec.serviceAccountName" in unnamed["message"]
    assert all(cluster.secret(name) is None for name in ("borrowed", "plain", "unnamed"))
    assert cluster.phase.records.requests == [], "nothing may fall back to the operator's role"
    assert token_requests(cluster.kube, AZURE_NAMESPACE, "worker") == 0


def test_a_per_workload_identity_listing_no_accounts_allows_any_and_one_listing_some_only_those(
    cluster: Cluster, aws_workload: tuple[ServiceAccount, str],
    workload_env: dict[str, str], start_operator: Callable[..., OperatorProcess],
) -> None:
    aws_account, _ = aws_workload
    workload_identity(cluster, "listing-aws", serviceAccounts=[
        {"id": "11111111-2222-3333-4444-555555555555"}])
    bind(cluster, aws_account.id, name="unlisted", secret="unlisted", identity="listing-aws")
    start_operator(env=workload_env)

    refused = wait_ready(cluster, "ServiceAccountNotAllowed", name="unlisted")
    assert f"does not list service account {aws_account.id}" in refused["message"]
    assert token_requests(cluster.kube, NAMESPACE, "api") == 0, "refused before any proof"
    assert cluster.phase.records.requests == []

    body = cluster.identity_body("team-aws", credentials={"source": "ServiceAccount"})
    del body["spec"]["serviceAccounts"]
    cluster.custom.create_cluster_custom_object(GROUP, VERSION, "externalidentities", body)
    bind(cluster, aws_account.id)
    wait_ready(cluster, "TokenIssued")
    assert cluster.secret("unlisted") is None


def test_refusals_by_sts_and_by_the_kubernetes_api_name_the_service_account_and_the_fix(
    cluster: Cluster, aws_workload: tuple[ServiceAccount, str],
    workload_env: dict[str, str], start_operator: Callable[..., OperatorProcess],
) -> None:
    aws_account, role_arn = aws_workload
    service_account(cluster.kube, NAMESPACE, "impostor",
                    **{"eks.amazonaws.com/role-arn": role_arn})  # the role does not trust it
    cluster.kube.refuse(f"post /api/v1/namespaces/{NAMESPACE}/serviceaccounts/api/token",
                        403, "Forbidden", "cannot create resource serviceaccounts/token")
    workload_identity(cluster)
    bind(cluster, aws_account.id)
    bind(cluster, aws_account.id, name="impostor", secret="impostor",
         service_account_name="impostor")
    start_operator(env=workload_env)

    refused = wait_ready(cluster, "CredentialsUnavailable", name="impostor")
    assert "STS refused AssumeRoleWithWebIdentity" in refused["message"]
    assert "AccessDenied" in refused["message"]
    assert f"system:serviceaccount:{NAMESPACE}:impostor" in refused["message"]
    forbidden = wait_ready(cluster, "CredentialsUnavailable")
    assert f"ServiceAccount {NAMESPACE}/api" in forbidden["message"]
    assert "perWorkloadIdentity.enabled" in forbidden["message"]
    assert [c.refused for c in cluster.sts.web_identity.calls_for(
        f"system:serviceaccount:{NAMESPACE}:impostor")][:1] == ["AccessDenied"]
    assert cluster.phase.records.requests == []
    assert cluster.secret() is None and cluster.secret("impostor") is None


def test_fifty_bindings_on_one_service_account_cost_one_token_request_and_one_assume_role(
    cluster: Cluster, aws_workload: tuple[ServiceAccount, str],
    workload_env: dict[str, str], start_operator: Callable[..., OperatorProcess],
    phase_server: PhaseServer,
) -> None:
    aws_account, _ = aws_workload
    workload_identity(cluster)
    names = [f"app-{index:02d}" for index in range(50)]
    for name in names:
        bind(cluster, aws_account.id, name=name, secret=name)
    port = free_port()
    start_operator("--metrics-port", str(port), env=workload_env)

    wait_for(lambda: all((c := ready(cluster, NAMESPACE, name)) is not None
                         and c["reason"] == "TokenIssued" for name in names),
             timeout=180, message="all 50 bindings issued")
    assert len({t.principal for t in phase_server.records.tokens}) == 1
    assert token_requests(cluster.kube, NAMESPACE, "api") == 1
    assume = cluster.sts.faults.calls_of("AssumeRoleWithWebIdentity")
    assert len(assume) == 1
    reads = [c for c in cluster.kube.calls()
             if c.rbac_resource == "serviceaccounts" and c.verb == "get"]
    assert 1 <= len(reads) <= 3, "the ServiceAccount is read once, not once per binding"
    for source in ("kubernetes-token-request", "aws-assume-role-with-web-identity"):
        sample = f'external_identity_credential_refreshes_total{{source="{source}"}}'
        assert metric(port, sample) == 1, f"{source} counted once"


def test_the_token_request_asks_for_the_identitys_audience(
    cluster: Cluster, workload_env: dict[str, str], start_operator: Callable[..., OperatorProcess],
) -> None:
    audience = "phase.example.com/external-identity"
    role_arn = cluster.sts.create_workload_role(
        ROLE, issuer=cluster.kube.url, namespace=NAMESPACE, service_account="api",
        audience=audience)  # STS takes no other audience from this issuer
    service_account(cluster.kube, NAMESPACE, "api", **{ROLE_ARN_ANNOTATION: role_arn})
    account = cluster.phase.add_service_account()
    cluster.phase.add_aws_identity(account, sts_endpoint=cluster.sts.endpoint,
                                   trusted_principals=[cluster.sts.trust_pattern(ROLE)])
    body = cluster.identity_body("team-aws", credentials={"source": "ServiceAccount",
                                                          "audience": audience})
    cluster.custom.create_cluster_custom_object(GROUP, VERSION, "externalidentities", body)
    bind(cluster, account.id)
    start_operator(env=workload_env)

    wait_ready(cluster, "TokenIssued")
    audiences = [jwt.decode(token, options={"verify_signature": False})["aud"]
                 for token in cluster.kube.emulator.signer.issued]
    assert audiences == [[audience]]


def _refresh(cluster: Cluster, request: str) -> dict[str, Any]:
    """Ask for a new token now; the binding's status once the operator issued it, or once it
    found the ServiceAccount's credentials unavailable."""
    cluster.custom.patch_namespaced_custom_object(
        GROUP, VERSION, NAMESPACE, "serviceaccountbindings", "payments-api",
        {"metadata": {"annotations": {REFRESH_ANNOTATION: request}}})

    def outcome() -> dict[str, Any] | None:
        status = cluster.binding()["status"]
        condition = next(c for c in status["conditions"] if c["type"] == "Ready")
        done = status.get("handledRefreshRequest") == request
        return status if done or condition["reason"] == "CredentialsUnavailable" else None

    return wait_for(outcome, message=f"refresh request {request} handled")


def _reason(status: dict[str, Any]) -> str:
    return str(next(c for c in status["conditions"] if c["type"] == "Ready")["reason"])


@pytest.mark.parametrize("watching", [True, False], ids=["watching", "not-watching"])
def test_a_re_annotated_or_deleted_service_account_takes_effect_at_once_only_when_watched(
    cluster: Cluster, workload_env: dict[str, str], start_operator: Callable[..., OperatorProcess],
    watching: bool,
) -> None:
    """Without --watch-service-accounts a ServiceAccount is re-read within a minute, so for that
    long refreshes still prove the role it named; with it, the next refresh sees the change
    (the watch event may trail a refresh request by a moment: those are asked again)."""
    roles = {name: cluster.sts.create_workload_role(
        name, issuer=cluster.kube.url, namespace=NAMESPACE, service_account="api")
        for name in ("team-a", "team-b")}
    service_account(cluster.kube, NAMESPACE, "api", **{ROLE_ARN_ANNOTATION: roles["team-a"]})
    account = cluster.phase.add_service_account()
    cluster.phase.add_aws_identity(account, sts_endpoint=cluster.sts.endpoint, trusted_principals=[
        cluster.sts.trust_pattern(name) for name in roles])
    workload_identity(cluster)
    bind(cluster, account.id)
    start_operator(*(["--watch-service-accounts"] if watching else []), env=workload_env)
    wait_ready(cluster, "TokenIssued")
    assert "assumed-role/team-a/" in cluster.binding()["status"]["principal"]
    attempts = iter(range(1000))

    cluster.core.patch_namespaced_service_account("api", NAMESPACE, {
        "metadata": {"annotations": {ROLE_ARN_ANNOTATION: roles["team-b"]}}})
    if watching:
        wait_for(lambda: "assumed-role/team-b/" in _refresh(
            cluster, f"re-annotated-{next(attempts)}")["principal"],
            timeout=15, message="a token proved by the newly annotated role")
    else:
        assert "assumed-role/team-a/" in _refresh(cluster, "re-annotated")["principal"]

    cluster.core.delete_namespaced_service_account("api", NAMESPACE)
    if watching:
        wait_for(lambda: _reason(_refresh(cluster, f"deleted-{next(attempts)}"))
                 == "CredentialsUnavailable", timeout=15, message="the deletion noticed")
        assert f"ServiceAccount {NAMESPACE}/api does not exist" in ready(
            cluster, NAMESPACE)["message"]
    else:
        assert _reason(_refresh(cluster, "deleted")) == "TokenIssued"
