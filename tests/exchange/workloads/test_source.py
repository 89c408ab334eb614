"""The ServiceAccount credential source against the emulator and the STS and Entra peers."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
from support.kube.server import KubeAPI
from support.peers.entra_peer import EntraPeer, FederatedCredential
from support.peers.sts_peer import StsPeer

from external_identity.api.specs import parse_binding, parse_identity
from external_identity.errors import CredentialsUnavailable
from external_identity.exchange.workloads import ServiceAccountCredentials

pytestmark = pytest.mark.usefixtures("loopback_only")

NAMESPACE = "payments"
ACCOUNT_ID = "0f1a2b3c-4d5e-6789-abcd-ef0123456789"


def _binding(name: str = "api") -> Any:
    return parse_binding({"externalIdentityRef": {"name": "x"}, "serviceAccountId": ACCOUNT_ID,
                          "serviceAccountName": name, "secret": {"name": "s"}},
                         namespace=NAMESPACE)


def _account(kube: KubeAPI, name: str = "api", **annotations: str) -> None:
    kube.ensure_namespace(NAMESPACE)
    kube.core_v1().create_namespaced_service_account(
        NAMESPACE, {"metadata": {"name": name, "annotations": annotations}})


def _count(kube: KubeAPI, resource: str, verb: str = "create") -> int:
    return sum(1 for call in kube.calls()
               if (call.rbac_resource, call.verb) == (resource, verb) and call.status < 400)


@pytest.fixture
def aws_identity(sts_peer: StsPeer) -> Any:
    sts_peer.web_identity.clear()
    sts_peer.faults.clear()
    return parse_identity({"provider": "aws-iam", "aws": {"stsEndpoint": sts_peer.endpoint},
                           "credentials": {"source": "ServiceAccount"}})


def _role(sts: StsPeer, kube: KubeAPI, name: str = "api", role: str = "payments-api") -> str:
    return sts.create_workload_role(role, issuer=kube.url, namespace=NAMESPACE,
                                    service_account=name)


async def test_concurrent_proofs_share_one_token_request_and_one_assume_role(
    kube_api: KubeAPI, sts_peer: StsPeer, aws_identity: Any
) -> None:
    _account(kube_api, **{"eks.amazonaws.com/role-arn": _role(sts_peer, kube_api)})
    source = ServiceAccountCredentials(kube_api.core_v1())
    try:
        proofs = await asyncio.gather(*(
            source.provider_for(aws_identity, _binding()).proof() for _ in range(20)))
    finally:
        await source.close()
    assert {proof.principal for proof in proofs} == {
        f"arn:aws:sts::{sts_peer.account_id}:assumed-role/payments-api/payments.api"}
    assert _count(kube_api, "serviceaccounts/token") == 1
    assert _count(kube_api, "serviceaccounts", "get") == 1
    assert len(sts_peer.faults.calls_of("AssumeRoleWithWebIdentity")) == 1


async def test_forgetting_a_service_account_picks_up_its_new_role(
    kube_api: KubeAPI, sts_peer: StsPeer, aws_identity: Any
) -> None:
    _account(kube_api, **{"eks.amazonaws.com/role-arn": _role(sts_peer, kube_api)})
    source = ServiceAccountCredentials(kube_api.core_v1())
    try:
        first = await source.provider_for(aws_identity, _binding()).proof()
        kube_api.core_v1().patch_namespaced_service_account("api", NAMESPACE, {"metadata": {
            "annotations": {"eks.amazonaws.com/role-arn": _role(sts_peer, kube_api,
                                                                 role="payments-new")}}})
        source.forget(NAMESPACE, "api")  # what a ServiceAccount watch reports
        second = await source.provider_for(aws_identity, _binding()).proof()
    finally:
        await source.close()
    assert first.principal is not None and "/payments-api/" in first.principal
    assert second.principal is not None and "/payments-new/" in second.principal
    assert _count(kube_api, "serviceaccounts/token") == 2


async def test_a_deleted_service_account_stops_proving_at_once(
    kube_api: KubeAPI, sts_peer: StsPeer, aws_identity: Any
) -> None:
    _account(kube_api, **{"eks.amazonaws.com/role-arn": _role(sts_peer, kube_api)})
    source = ServiceAccountCredentials(kube_api.core_v1())
    try:
        await source.provider_for(aws_identity, _binding()).proof()
        kube_api.core_v1().delete_namespaced_service_account("api", NAMESPACE)
        source.forget(NAMESPACE, "api")
        with pytest.raises(CredentialsUnavailable) as missing:
            await source.provider_for(aws_identity, _binding()).proof()
    finally:
        await source.close()
    assert "ServiceAccount payments/api does not exist" in str(missing.value)


async def test_an_app_whose_federated_credential_names_another_subject_is_refused_by_entra(
    kube_api: KubeAPI, entra_peer: EntraPeer, aiohttp_trusts_entra: None
) -> None:
    app = entra_peer.add_client(federated=(FederatedCredential(
        issuer=kube_api.url, subject=f"system:serviceaccount:{NAMESPACE}:someone-else"),))
    _account(kube_api, **{"azure.workload.identity/client-id": app.client_id})
    identity = parse_identity({"provider": "azure", "credentials": {"source": "ServiceAccount"},
                               "azure": {"tenantId": entra_peer.tenant_id,
                                         "authorityHost": entra_peer.authority_host}})
    source = ServiceAccountCredentials(kube_api.core_v1())
    try:
        with pytest.raises(CredentialsUnavailable) as refused:
            await source.provider_for(identity, _binding()).proof()
    finally:
        await source.close()
    message = str(refused.value)
    assert "AADSTS70021" in message and "ServiceAccount payments/api" in message
    assert f"subject system:serviceaccount:{NAMESPACE}:api" in message
    assert all(token not in message for token in kube_api.emulator.signer.issued)
    assert "eyJ" not in message


async def test_an_azure_binding_proves_the_apps_object_id(
    kube_api: KubeAPI, entra_peer: EntraPeer, aiohttp_trusts_entra: None
) -> None:
    app = entra_peer.add_client(federated=(FederatedCredential(
        issuer=kube_api.url, subject=f"system:serviceaccount:{NAMESPACE}:api"),))
    _account(kube_api, **{"azure.workload.identity/client-id": app.client_id})
    identity = parse_identity({"provider": "azure", "credentials": {"source": "ServiceAccount"},
                               "azure": {"tenantId": entra_peer.tenant_id,
                                         "authorityHost": entra_peer.authority_host}})
    source = ServiceAccountCredentials(kube_api.core_v1())
    try:
        proofs = await asyncio.gather(*(
            source.provider_for(identity, _binding()).proof() for _ in range(10)))
    finally:
        await source.close()
    assert {proof.principal for proof in proofs} == {app.oid}
    assert len(entra_peer.token_requests()) == 1
    assert _count(kube_api, "serviceaccounts/token") == 1


async def test_a_watch_event_for_an_unchanged_account_keeps_its_credentials(
    kube_api: KubeAPI, sts_peer: StsPeer, aws_identity: Any
) -> None:
    _account(kube_api, **{"eks.amazonaws.com/role-arn": _role(sts_peer, kube_api)})
    source = ServiceAccountCredentials(kube_api.core_v1())
    try:
        await source.provider_for(aws_identity, _binding()).proof()
        stored = kube_api.get("v1/serviceaccounts", NAMESPACE, "api")  # not an API call
        assert stored is not None
        seen = stored["metadata"]
        source.observed(NAMESPACE, "api", uid=seen["uid"], annotations=seen["annotations"])
        await source.provider_for(aws_identity, _binding()).proof()
        assert len(sts_peer.faults.calls_of("AssumeRoleWithWebIdentity")) == 1
        source.observed(NAMESPACE, "api", uid=seen["uid"], annotations={
            "eks.amazonaws.com/role-arn": "arn:aws:iam::123456789012:role/other"})
        await source.provider_for(aws_identity, _binding()).proof()  # re-read: still payments-api
    finally:
        await source.close()
    assert len(sts_peer.faults.calls_of("AssumeRoleWithWebIdentity")) == 2
    assert _count(kube_api, "serviceaccounts", "get") == 2
