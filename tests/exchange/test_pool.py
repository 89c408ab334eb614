"""ExchangePool against the Phase peer: each exchange goes to the binding's credential source and
the identity's token service, within a concurrency bound, and is counted by outcome.

Providers are stand-ins passed in through ``OperatorCredentials(build=...)``; the peer answers
with injected replies (it cannot verify a stand-in proof). Real providers have their own tests.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import pytest
from support.kube.server import KubeAPI
from support.peers.phase_server import PhaseServer
from support.peers.sts_peer import StsPeer

from external_identity.api.specs import BindingSpec, IdentitySpec, parse_binding, parse_identity
from external_identity.controller.metrics import Metrics
from external_identity.errors import (
    ConfigurationError,
    CredentialsUnavailable,
    Unavailable,
    UntrustedPrincipal,
)
from external_identity.exchange.pool import (
    CredentialSource,
    ExchangePool,
    OperatorCredentials,
    credential_sources,
)
from external_identity.exchange.proofs import AWS_IAM, Proof, ProofProvider
from external_identity.exchange.providers.settings import ProviderSettings
from external_identity.exchange.workloads import ServiceAccountCredentials
from tests.exchange.client.conftest import PRINCIPAL, FixedProof

pytestmark = pytest.mark.usefixtures("loopback_only")

ACCOUNT_ID = "0f1a2b3c-4d5e-6789-abcd-ef0123456789"
TOKEN = "pss_service:v2:" + "ab" * 32 + ":" + "cd" * 32
GRANT = json.dumps({"authentication": {
    "tokenType": "ServiceAccount", "token": TOKEN, "bearerToken": "ServiceAccount " + "ab" * 32,
    "TTL": 900, "maxTTL": 86400,
}}).encode()


def identity(phase: PhaseServer, **spec: Any) -> IdentitySpec:
    token_service = {"host": phase.base_url, **spec.pop("tokenService", {})}
    return parse_identity({"provider": "aws-iam", "tokenService": token_service, **spec})


def binding(**spec: Any) -> BindingSpec:
    return parse_binding({"externalIdentityRef": {"name": "prod-aws"},
                          "serviceAccountId": ACCOUNT_ID, "secret": {"name": "s"}, **spec},
                         namespace="payments")


@dataclass
class Built:
    """The providers ``OperatorCredentials`` asked for, and which were closed."""

    settings: list[ProviderSettings] = field(default_factory=list)
    closed: list[ProofProvider] = field(default_factory=list)

    def __call__(self, settings: ProviderSettings) -> ProofProvider:
        self.settings.append(settings)
        built = self

        class Provider(FixedProof):
            async def close(self) -> None:
                built.closed.append(self)

        return Provider()


@dataclass
class RecordingSource:
    """A credential source that only records what the pool tells it."""

    told: list[tuple[Any, ...]] = field(default_factory=list)

    def provider_for(self, identity: IdentitySpec, binding: BindingSpec) -> ProofProvider:
        return FixedProof()

    def forget(self, namespace: str, name: str) -> None:
        self.told.append(("forget", namespace, name))

    def observed(self, namespace: str, name: str, *, uid: str,
                 annotations: Mapping[str, str] | None) -> None:
        self.told.append(("observed", namespace, name, uid, annotations))

    async def close(self) -> None:
        self.told.append(("close",))


def pool_with(
    sources: dict[str, CredentialSource], metrics: Metrics, *, max_concurrent: int = 4
) -> ExchangePool:
    return ExchangePool(max_concurrent=max_concurrent, credential_sources=sources,
                        metrics=metrics)


@pytest.fixture
def metrics() -> Metrics:
    return Metrics()


def exchanges(metrics: Metrics, outcome: str, provider: str = AWS_IAM) -> float:
    value = metrics.registry.get_sample_value(
        "external_identity_exchanges_total", {"provider": provider, "outcome": outcome})
    return value or 0.0


def timed(metrics: Metrics, provider: str = AWS_IAM) -> float:
    value = metrics.registry.get_sample_value(
        "external_identity_exchange_duration_seconds_count", {"provider": provider})
    return value or 0.0


# -- exchanges ----------------------------------------------------------------------------------


async def test_an_exchange_asks_the_identitys_token_service_for_the_bindings_account_and_ttl(
    phase_server: PhaseServer, metrics: Metrics
) -> None:
    pool = pool_with({"Operator": OperatorCredentials(build=Built())}, metrics)
    phase_server.respond_raw(body=GRANT)
    try:
        token = await pool.exchange(identity(phase_server), binding(ttl=900))
    finally:
        await pool.close()
    assert (token.token, token.ttl, token.principal) == (TOKEN, 900, PRINCIPAL)
    assert token.host == phase_server.base_url
    [request] = phase_server.records.requests
    assert request.path.startswith("/service/public/identities/external/v1/aws/iam/auth")
    assert request.payload["account"] == {"type": "service", "id": ACCOUNT_ID}
    assert request.payload["tokenRequest"] == {"ttl": 900}


async def test_a_binding_without_a_ttl_asks_for_the_identitys_default(
    phase_server: PhaseServer, metrics: Metrics
) -> None:
    pool = pool_with({"Operator": OperatorCredentials(build=Built())}, metrics)
    phase_server.respond_raw(body=GRANT)
    try:
        await pool.exchange(identity(phase_server, defaultTTL=1200), binding())
    finally:
        await pool.close()
    [request] = phase_server.records.requests
    assert request.payload["tokenRequest"] == {"ttl": 1200}


async def test_a_token_issued_is_counted_and_timed(
    phase_server: PhaseServer, metrics: Metrics
) -> None:
    pool = pool_with({"Operator": OperatorCredentials(build=Built())}, metrics)
    phase_server.respond_raw(body=GRANT)
    try:
        await pool.exchange(identity(phase_server), binding())
    finally:
        await pool.close()
    assert exchanges(metrics, "TokenIssued") == 1
    assert timed(metrics) == 1


async def test_a_refusal_is_raised_counted_under_its_reason_and_still_timed(
    phase_server: PhaseServer, metrics: Metrics
) -> None:
    pool = pool_with({"Operator": OperatorCredentials(build=Built())}, metrics)
    phase_server.fail(status=403, body={"error": "Untrusted principal"})
    try:
        with pytest.raises(UntrustedPrincipal) as refused:
            await pool.exchange(identity(phase_server), binding())
    finally:
        await pool.close()
    assert refused.value.principal == PRINCIPAL
    assert (exchanges(metrics, "Rejected"), exchanges(metrics, "TokenIssued")) == (1, 0)
    assert timed(metrics) == 1


async def test_a_token_service_outage_is_counted_as_a_failed_exchange(
    phase_server: PhaseServer, metrics: Metrics
) -> None:
    pool = pool_with({"Operator": OperatorCredentials(build=Built())}, metrics)
    phase_server.fail(status=503)
    try:
        with pytest.raises(Unavailable, match="token service unavailable"):
            await pool.exchange(identity(phase_server), binding())
    finally:
        await pool.close()
    assert exchanges(metrics, "ExchangeFailed") == 1


async def test_credentials_that_cannot_be_had_are_counted_as_such(
    phase_server: PhaseServer, metrics: Metrics
) -> None:
    class NoCredentials(FixedProof):
        async def proof(self) -> Proof:
            raise CredentialsUnavailable("no AWS credentials found")

    pool = pool_with({"Operator": OperatorCredentials(build=lambda _: NoCredentials())}, metrics)
    try:
        with pytest.raises(CredentialsUnavailable):
            await pool.exchange(identity(phase_server), binding())
    finally:
        await pool.close()
    assert exchanges(metrics, "CredentialsUnavailable") == 1
    assert phase_server.records.requests == []


async def test_an_unusable_ca_bundle_is_a_spec_problem_and_nothing_is_sent(
    phase_server: PhaseServer, metrics: Metrics
) -> None:
    pool = pool_with({"Operator": OperatorCredentials(build=Built())}, metrics)
    broken = identity(phase_server, tokenService={"caBundle": "not a certificate"})
    try:
        with pytest.raises(ConfigurationError, match="CA bundle is not usable PEM"):
            await pool.exchange(broken, binding())
    finally:
        await pool.close()
    assert exchanges(metrics, "InvalidSpec") == 1
    assert phase_server.records.requests == []


async def test_a_credentials_source_this_operator_lacks_is_refused_naming_those_it_has(
    phase_server: PhaseServer, metrics: Metrics
) -> None:
    pool = pool_with({"Operator": OperatorCredentials(build=Built())}, metrics)
    per_workload = identity(phase_server, credentials={"source": "ServiceAccount"})
    try:
        with pytest.raises(ConfigurationError) as refused:
            await pool.exchange(per_workload, binding())
    finally:
        await pool.close()
    assert str(refused.value) == (
        "credentials.source ServiceAccount is not supported by this operator version "
        "(supported: Operator)"
    )
    assert phase_server.records.requests == []


async def test_each_binding_is_routed_to_the_source_its_identity_names(
    phase_server: PhaseServer, metrics: Metrics
) -> None:
    built = Built()

    class Workload(RecordingSource):
        def provider_for(self, identity: IdentitySpec, binding: BindingSpec) -> ProofProvider:
            self.told.append(("provider_for", binding.namespace))
            return FixedProof(principal="arn:aws:sts::123456789012:assumed-role/team/payments.api")

    workload = Workload()
    pool = pool_with({"Operator": OperatorCredentials(build=built), "ServiceAccount": workload},
                     metrics)
    phase_server.respond_raw(count=2, body=GRANT)
    try:
        mine = await pool.exchange(identity(phase_server), binding())
        theirs = await pool.exchange(
            identity(phase_server, credentials={"source": "ServiceAccount"}), binding())
    finally:
        await pool.close()
    assert mine.principal == PRINCIPAL
    assert theirs.principal == "arn:aws:sts::123456789012:assumed-role/team/payments.api"
    assert workload.told[0] == ("provider_for", "payments")
    assert len(built.settings) == 1


@pytest.mark.parametrize(("bound", "at_once"), [(1, 1), (2, 2)])
async def test_no_more_exchanges_run_at_once_than_the_bound(
    phase_server: PhaseServer, metrics: Metrics, bound: int, at_once: int
) -> None:
    release = asyncio.Event()
    entered: list[int] = []

    class Gated(FixedProof):
        async def proof(self) -> Proof:
            entered.append(1)
            await release.wait()
            return await super().proof()

    pool = pool_with({"Operator": OperatorCredentials(build=lambda _: Gated())}, metrics,
                     max_concurrent=bound)
    phase_server.respond_raw(count=3, body=GRANT)
    try:
        tasks = [asyncio.create_task(pool.exchange(identity(phase_server), binding()))
                 for _ in range(3)]
        for _ in range(50):
            await asyncio.sleep(0)
        assert len(entered) == at_once
        release.set()
        tokens = await asyncio.gather(*tasks)
    finally:
        await pool.close()
    assert len(entered) == 3 and {token.token for token in tokens} == {TOKEN}


# -- credentials and clients --------------------------------------------------------------------


def test_identities_with_the_same_provider_settings_share_one_provider(
    phase_server: PhaseServer,
) -> None:
    built = Built()
    credentials = OperatorCredentials(build=built)
    one = identity(phase_server, aws={"region": "eu-west-1"}, description="one")
    other = identity(phase_server, aws={"region": "eu-west-1"}, defaultTTL=60)
    elsewhere = identity(phase_server, aws={"region": "us-east-1"})
    assert credentials.provider_for(one, binding()) is credentials.provider_of(other)
    assert credentials.provider_of(elsewhere) is not credentials.provider_of(one)
    assert [settings.aws_region for settings in built.settings] == ["eu-west-1", "us-east-1"]


async def test_closing_the_operators_credentials_closes_every_provider_and_starts_afresh(
    phase_server: PhaseServer,
) -> None:
    built = Built()
    credentials = OperatorCredentials(build=built)
    first = credentials.provider_of(identity(phase_server, aws={"region": "eu-west-1"}))
    second = credentials.provider_of(identity(phase_server, aws={"region": "us-east-1"}))
    await credentials.close()
    assert built.closed == [first, second]
    assert credentials.provider_of(identity(phase_server, aws={"region": "eu-west-1"})) is not first


def test_the_operators_credentials_belong_to_no_workload_so_watch_events_keep_them(
    phase_server: PhaseServer,
) -> None:
    credentials = OperatorCredentials(build=Built())
    provider = credentials.provider_of(identity(phase_server))
    credentials.forget("kube-system", "external-identity-operator")
    credentials.observed("kube-system", "external-identity-operator", uid="u", annotations={})
    assert credentials.provider_of(identity(phase_server)) is provider


async def test_an_operator_proof_comes_from_its_own_credentials_without_an_exchange(
    phase_server: PhaseServer, metrics: Metrics
) -> None:
    pool = pool_with({"Operator": OperatorCredentials(build=Built())}, metrics)
    try:
        proof = await pool.operator_proof(identity(phase_server))
    finally:
        await pool.close()
    assert (proof.provider, proof.principal) == (AWS_IAM, PRINCIPAL)
    assert phase_server.records.requests == []
    assert exchanges(metrics, "TokenIssued") == 0


@pytest.mark.parametrize("sources", [
    {"ServiceAccount": RecordingSource()},
    {"Operator": RecordingSource()},  # a source under that name that is not the operator's own
])
async def test_without_credentials_of_its_own_there_is_no_operator_proof(
    phase_server: PhaseServer, metrics: Metrics, sources: dict[str, CredentialSource]
) -> None:
    pool = pool_with(sources, metrics)
    try:
        with pytest.raises(ConfigurationError, match="no credentials of its own"):
            await pool.operator_proof(identity(phase_server))
    finally:
        await pool.close()


def test_service_account_events_reach_every_source(metrics: Metrics) -> None:
    one, other = RecordingSource(), RecordingSource()
    pool = pool_with({"Operator": one, "ServiceAccount": other}, metrics)
    pool.service_account_event("payments", "api", deleted=True)
    pool.service_account_event("payments", "api", deleted=False, uid="uid-2",
                               annotations={"eks.amazonaws.com/role-arn": "arn"})
    expected = [("forget", "payments", "api"),
                ("observed", "payments", "api", "uid-2", {"eks.amazonaws.com/role-arn": "arn"})]
    assert one.told == expected and other.told == expected


def test_token_services_share_an_http_client_per_ca_bundle_and_timeout(
    phase_server: PhaseServer, metrics: Metrics
) -> None:
    pool = pool_with({}, metrics)
    console = pool.token_service(identity(phase_server))
    api_form = pool.token_service(identity(phase_server, tokenService={"pathPrefix": ""}))
    slower = pool.token_service(identity(phase_server, tokenService={"timeoutSeconds": 60}))
    assert console.endpoint.path_prefix == "/service/public"
    assert api_form.endpoint.path_prefix == ""
    assert console._http is api_form._http
    assert slower._http is not console._http


async def test_closing_the_pool_closes_its_sources_and_http_clients(
    phase_server: PhaseServer, metrics: Metrics
) -> None:
    source = RecordingSource()
    pool = pool_with({"Operator": source}, metrics)
    client = pool.token_service(identity(phase_server))._http
    await pool.close()
    assert source.told == [("close",)]
    assert client.is_closed


# -- the sources an operator has ----------------------------------------------------------------


def test_an_operator_supports_its_own_credentials_and_each_workloads(kube_api: KubeAPI) -> None:
    sources = credential_sources(kube_api.api_client())
    assert set(sources) == {"Operator", "ServiceAccount"}
    assert isinstance(sources["Operator"], OperatorCredentials)
    assert isinstance(sources["ServiceAccount"], ServiceAccountCredentials)


async def test_the_workload_source_reports_each_credential_it_fetches(
    kube_api: KubeAPI, sts_peer: StsPeer
) -> None:
    sts_peer.faults.clear()
    kube_api.ensure_namespace("payments")
    role = sts_peer.create_workload_role("payments-pool", issuer=kube_api.url,
                                         namespace="payments", service_account="api")
    kube_api.core_v1().create_namespaced_service_account("payments", {"metadata": {
        "name": "api", "annotations": {"eks.amazonaws.com/role-arn": role}}})
    refreshed: list[str] = []
    sources = credential_sources(kube_api.api_client(), refreshed=refreshed.append)
    per_workload = parse_identity({"provider": "aws-iam", "aws": {"stsEndpoint": sts_peer.endpoint},
                                  "credentials": {"source": "ServiceAccount"}})
    try:
        proof = await sources["ServiceAccount"].provider_for(
            per_workload, binding(serviceAccountName="api")).proof()
    finally:
        for source in sources.values():
            await source.close()
    assert proof.principal is not None and "/payments-pool/payments.api" in proof.principal
    assert refreshed == ["kubernetes-token-request", "aws-assume-role-with-web-identity"]
