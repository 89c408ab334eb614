"""The Kubernetes side of per-workload identity against the emulated API: ServiceAccount lookups
(briefly cached, shared by concurrent callers), TokenRequests, and a token reused for most of its
lifetime. Refusals name the ServiceAccount and the fix, never a token."""

from __future__ import annotations

import asyncio
import gc
import logging

import jwt
import kubernetes
import pytest
from support.kube.server import KubeAPI

from external_identity.errors import CredentialsUnavailable
from external_identity.exchange.workloads.accounts import ServiceAccount
from external_identity.exchange.workloads.kube import (
    IssuedKubeToken,
    ReusedToken,
    ServiceAccountMissing,
    ServiceAccounts,
    TokenRequester,
)

NAMESPACE = "payments"
ROLE = {"eks.amazonaws.com/role-arn": "arn:aws:iam::123456789012:role/payments-api"}
LEAKED = "eyJhbGciOiJSUzI1NiJ9.eyJzdWIiOiJ4In0.c2lnbmF0dXJl"


class Monotonic:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def _account(kube: KubeAPI, name: str = "api", **annotations: str) -> dict[str, object]:
    kube.ensure_namespace(NAMESPACE)
    kube.core_v1().create_namespaced_service_account(
        NAMESPACE, {"metadata": {"name": name, "annotations": annotations}})
    stored = kube.get("v1/serviceaccounts", NAMESPACE, name)
    assert stored is not None
    return stored


def _reads(kube: KubeAPI) -> int:
    return sum(1 for call in kube.calls()
               if (call.rbac_resource, call.verb) == ("serviceaccounts", "get"))


def _unreachable() -> kubernetes.client.CoreV1Api:
    configuration = kubernetes.client.Configuration(host="http://127.0.0.1:9")
    configuration.retries = 0
    return kubernetes.client.CoreV1Api(kubernetes.client.ApiClient(configuration))


# -- ServiceAccount lookups ---------------------------------------------------------------------


async def test_a_lookup_gives_the_accounts_uid_and_annotations(kube_api: KubeAPI) -> None:
    stored = _account(kube_api, **ROLE)
    account = await ServiceAccounts(kube_api.core_v1()).get(NAMESPACE, "api")
    assert account == ServiceAccount.of(NAMESPACE, "api", stored["metadata"]["uid"], ROLE)  # type: ignore[index]


async def test_an_account_without_annotations_has_none(kube_api: KubeAPI) -> None:
    _account(kube_api)
    account = await ServiceAccounts(kube_api.core_v1()).get(NAMESPACE, "api")
    assert account.annotations == ()


async def test_a_lookup_is_served_from_the_cache_until_it_is_older_than_the_cache_time(
    kube_api: KubeAPI,
) -> None:
    _account(kube_api, **ROLE)
    clock = Monotonic()
    accounts = ServiceAccounts(kube_api.core_v1(), cache_seconds=60, monotonic=clock)
    kube_api.clear_calls()

    await accounts.get(NAMESPACE, "api")
    clock.now += 60
    await accounts.get(NAMESPACE, "api")
    assert _reads(kube_api) == 1

    clock.now += 0.5
    await accounts.get(NAMESPACE, "api")
    assert _reads(kube_api) == 2


async def test_a_changed_account_is_seen_after_the_cache_time(kube_api: KubeAPI) -> None:
    _account(kube_api, **ROLE)
    clock = Monotonic()
    accounts = ServiceAccounts(kube_api.core_v1(), cache_seconds=60, monotonic=clock)
    await accounts.get(NAMESPACE, "api")
    kube_api.patch_object("v1/serviceaccounts", NAMESPACE, "api",
                          {"metadata": {"annotations": {"team": "payments"}}})

    assert (await accounts.get(NAMESPACE, "api")).annotation("team") is None
    clock.now += 61
    assert (await accounts.get(NAMESPACE, "api")).annotation("team") == "payments"


async def test_concurrent_lookups_of_one_account_share_one_read(kube_api: KubeAPI) -> None:
    _account(kube_api, **ROLE)
    accounts = ServiceAccounts(kube_api.core_v1())
    kube_api.clear_calls()

    found = await asyncio.gather(*(accounts.get(NAMESPACE, "api") for _ in range(20)))

    assert len(set(found)) == 1
    assert _reads(kube_api) == 1


async def test_forgetting_an_account_makes_the_next_lookup_read_it_again(
    kube_api: KubeAPI,
) -> None:
    _account(kube_api, **ROLE)
    _account(kube_api, "other")
    accounts = ServiceAccounts(kube_api.core_v1())
    await accounts.get(NAMESPACE, "api")
    await accounts.get(NAMESPACE, "other")
    kube_api.clear_calls()

    accounts.forget(NAMESPACE, "api")
    await accounts.get(NAMESPACE, "api")
    await accounts.get(NAMESPACE, "other")

    assert _reads(kube_api) == 1


async def test_a_missing_account_says_so_and_names_the_field_to_fix(kube_api: KubeAPI) -> None:
    kube_api.ensure_namespace(NAMESPACE)
    with pytest.raises(ServiceAccountMissing) as missing:
        await ServiceAccounts(kube_api.core_v1()).get(NAMESPACE, "ghost")
    assert isinstance(missing.value, CredentialsUnavailable)
    assert str(missing.value) == (
        "ServiceAccount payments/ghost does not exist; create it, or set "
        "spec.serviceAccountName to a ServiceAccount in namespace payments"
    )


async def test_every_concurrent_caller_hears_the_failure_and_it_is_not_cached(
    kube_api: KubeAPI,
) -> None:
    kube_api.ensure_namespace(NAMESPACE)
    accounts = ServiceAccounts(kube_api.core_v1())
    results = await asyncio.gather(*(accounts.get(NAMESPACE, "api") for _ in range(5)),
                                   return_exceptions=True)
    assert all(isinstance(result, ServiceAccountMissing) for result in results)

    _account(kube_api, **ROLE)
    assert (await accounts.get(NAMESPACE, "api")).annotation(
        "eks.amazonaws.com/role-arn") == ROLE["eks.amazonaws.com/role-arn"]


async def test_a_failed_lookup_nobody_else_awaited_leaves_no_unretrieved_error_behind(
    kube_api: KubeAPI, caplog: pytest.LogCaptureFixture
) -> None:
    kube_api.ensure_namespace(NAMESPACE)
    caplog.set_level(logging.ERROR, logger="asyncio")
    missing = False
    try:  # not pytest.raises: it would keep the traceback, and the future, alive
        await ServiceAccounts(kube_api.core_v1()).get(NAMESPACE, "ghost")
    except ServiceAccountMissing:
        missing = True
    gc.collect()
    assert missing
    assert "exception was never retrieved" not in caplog.text


async def test_a_forbidden_read_names_the_permission_and_the_chart_value(
    kube_api: KubeAPI,
) -> None:
    _account(kube_api)
    kube_api.refuse(f"get /api/v1/namespaces/{NAMESPACE}/serviceaccounts/api", 403, "Forbidden",
                    'serviceaccounts "api" is forbidden')
    with pytest.raises(CredentialsUnavailable) as refused:
        await ServiceAccounts(kube_api.core_v1()).get(NAMESPACE, "api")
    assert str(refused.value) == (
        "the Kubernetes API refused to read ServiceAccount payments/api (Forbidden); the operator "
        "needs get on serviceaccounts and create on serviceaccounts/token in this namespace: "
        "install the chart with perWorkloadIdentity.enabled=true"
    )


async def test_a_server_error_is_retried_and_its_message_redacted(kube_api: KubeAPI) -> None:
    _account(kube_api)
    kube_api.refuse(f"get /api/v1/namespaces/{NAMESPACE}/serviceaccounts/api", 500,
                    "InternalError", f"etcd hiccup near {LEAKED}", times=1)
    accounts = ServiceAccounts(kube_api.core_v1())
    with pytest.raises(CredentialsUnavailable) as failed:
        await accounts.get(NAMESPACE, "api")
    message = str(failed.value)
    assert message.startswith("the Kubernetes API refused to read ServiceAccount payments/api "
                              "(HTTP 500 InternalError: etcd hiccup near [redacted]); retrying")
    assert LEAKED not in message
    assert (await accounts.get(NAMESPACE, "api")).name == "api"


async def test_an_unreachable_api_is_unavailable_credentials() -> None:
    with pytest.raises(CredentialsUnavailable, match="Kubernetes API unreachable"):
        await ServiceAccounts(_unreachable()).get(NAMESPACE, "api")


# -- TokenRequests ------------------------------------------------------------------------------


def test_a_token_request_gives_a_token_for_the_audience_and_its_lifetime(
    kube_api: KubeAPI,
) -> None:
    stored = _account(kube_api)
    issued: list[None] = []
    requester = TokenRequester(kube_api.core_v1(), expiration_seconds=1800,
                               issued=lambda: issued.append(None))
    account = ServiceAccount.of(NAMESPACE, "api", stored["metadata"]["uid"], None)  # type: ignore[index]

    token = requester.request(account, audience="sts.amazonaws.com")

    assert token.token in kube_api.emulator.signer.issued
    claims = jwt.decode(token.token, options={"verify_signature": False})
    assert claims["aud"] == ["sts.amazonaws.com"]
    assert claims["sub"] == "system:serviceaccount:payments:api"
    # expirationTimestamp is whole seconds of the server's clock, read after the request left.
    assert 1790 <= token.lifetime <= 1801
    assert issued == [None]


def test_a_token_for_a_missing_account_says_it_does_not_exist(kube_api: KubeAPI) -> None:
    kube_api.ensure_namespace(NAMESPACE)
    requester = TokenRequester(kube_api.core_v1())
    with pytest.raises(ServiceAccountMissing, match="ServiceAccount payments/ghost does not exist"):
        requester.request(ServiceAccount.of(NAMESPACE, "ghost", "", None), audience="a")


def test_a_forbidden_token_request_names_what_the_operator_may_not_do(kube_api: KubeAPI) -> None:
    _account(kube_api)
    kube_api.refuse(f"post /api/v1/namespaces/{NAMESPACE}/serviceaccounts/api/token", 403,
                    "Forbidden", "cannot create resource serviceaccounts/token")
    issued: list[None] = []
    requester = TokenRequester(kube_api.core_v1(), issued=lambda: issued.append(None))
    with pytest.raises(CredentialsUnavailable) as refused:
        requester.request(ServiceAccount.of(NAMESPACE, "api", "", None), audience="a")
    assert str(refused.value).startswith(
        "the Kubernetes API refused to issue a token (TokenRequest) for ServiceAccount "
        "payments/api (Forbidden); the operator needs get on serviceaccounts and create on "
        "serviceaccounts/token")
    assert issued == []


def test_a_lifetime_the_api_refuses_is_reported_with_its_reason(kube_api: KubeAPI) -> None:
    _account(kube_api)
    requester = TokenRequester(kube_api.core_v1(), expiration_seconds=60)
    with pytest.raises(CredentialsUnavailable) as refused:
        requester.request(ServiceAccount.of(NAMESPACE, "api", "", None), audience="a")
    assert "HTTP 422 Invalid" in str(refused.value)
    assert "less than 10 minutes" in str(refused.value)


def test_an_answer_without_a_token_is_refused(kube_api: KubeAPI) -> None:
    _account(kube_api)
    path = f"post /api/v1/namespaces/{NAMESPACE}/serviceaccounts/api/token"
    empty = {"apiVersion": "authentication.k8s.io/v1", "kind": "TokenRequest",
             "spec": {"audiences": ["a"]}, "status": {"token": "", "expirationTimestamp": None}}
    kube_api.call(lambda: kube_api.emulator[path][:1] << empty)
    requester = TokenRequester(kube_api.core_v1())
    with pytest.raises(CredentialsUnavailable,
                       match="the TokenRequest for ServiceAccount payments/api returned no token"):
        requester.request(ServiceAccount.of(NAMESPACE, "api", "", None), audience="a")


def test_without_an_expiry_in_the_answer_the_lifetime_asked_for_is_assumed(
    kube_api: KubeAPI,
) -> None:
    _account(kube_api)
    path = f"post /api/v1/namespaces/{NAMESPACE}/serviceaccounts/api/token"
    answer = {"apiVersion": "authentication.k8s.io/v1", "kind": "TokenRequest",
              "spec": {"audiences": ["a"]}, "status": {"token": "opaque-token"}}
    kube_api.call(lambda: kube_api.emulator[path][:1] << answer)
    token = TokenRequester(kube_api.core_v1(), expiration_seconds=1200).request(
        ServiceAccount.of(NAMESPACE, "api", "", None), audience="a")
    assert token == IssuedKubeToken(token="opaque-token", lifetime=1200.0)


def test_an_unreachable_api_gives_no_token_and_no_traceback_of_urllib3() -> None:
    with pytest.raises(CredentialsUnavailable) as failed:
        TokenRequester(_unreachable()).request(
            ServiceAccount.of(NAMESPACE, "api", "", None), audience="a")
    assert str(failed.value).startswith(
        "cannot request a token for ServiceAccount payments/api: Kubernetes API unreachable")
    assert failed.value.__suppress_context__


# -- one token, reused --------------------------------------------------------------------------


class Requests:
    def __init__(self, clock: Monotonic, *, lifetime: float = 1000, takes: float = 0) -> None:
        self.clock = clock
        self.lifetime = lifetime
        self.takes = takes
        self.issued: list[str] = []

    def __call__(self) -> IssuedKubeToken:
        self.issued.append(f"token-{len(self.issued)}")
        self.clock.now += self.takes
        return IssuedKubeToken(self.issued[-1], lifetime=self.lifetime)


def test_a_kubernetes_token_is_reused_until_most_of_its_lifetime_has_passed() -> None:
    clock = Monotonic()
    requests = Requests(clock)
    token = ReusedToken(requests, monotonic=clock)
    assert token.get() == "token-0"
    clock.now += 799
    assert token.get() == "token-0"
    clock.now += 1
    assert token.get() == "token-1" and len(requests.issued) == 2


def test_the_reuse_window_counts_from_when_the_token_was_asked_for() -> None:
    clock = Monotonic()
    token = ReusedToken(Requests(clock, lifetime=1000, takes=100), monotonic=clock,
                        reuse_fraction=0.5)
    start = clock.now
    assert token.get() == "token-0"
    clock.now = start + 499
    assert token.get() == "token-0"
    clock.now = start + 500
    assert token.get() == "token-1"


def test_nothing_is_held_before_the_first_token_and_peeking_requests_none() -> None:
    clock = Monotonic()
    requests = Requests(clock)
    token = ReusedToken(requests, monotonic=clock)
    assert token.peek() is None and requests.issued == []
    token.get()
    clock.now += 5000
    assert token.peek() == "token-0" and len(requests.issued) == 1


def test_a_failed_request_holds_nothing_and_the_next_get_asks_again() -> None:
    clock = Monotonic()
    calls: list[int] = []

    def flaky() -> IssuedKubeToken:
        calls.append(1)
        if len(calls) == 1:
            raise CredentialsUnavailable("ServiceAccount payments/api does not exist")
        return IssuedKubeToken("token-after", lifetime=1000)

    token = ReusedToken(flaky, monotonic=clock)
    with pytest.raises(CredentialsUnavailable):
        token.get()
    assert token.peek() is None
    assert token.get() == "token-after"


def test_a_token_granted_no_lifetime_is_asked_for_again_every_time() -> None:
    clock = Monotonic()
    requests = Requests(clock, lifetime=0)
    token = ReusedToken(requests, monotonic=clock)
    token.get()
    token.get()
    assert len(requests.issued) == 2
