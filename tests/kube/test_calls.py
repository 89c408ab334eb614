"""Blocking Kubernetes client calls made off the event loop, against the emulated API: results and
API refusals pass through, an unreachable API becomes the caller's own error, and the API's
Status is read back (reason and redacted message)."""

from __future__ import annotations

import asyncio
import threading

import kubernetes
import pytest
import urllib3.exceptions
from kubernetes.client.exceptions import ApiException
from support.kube.server import KubeAPI

from external_identity.errors import KubernetesApiError, SecretWriteError
from external_identity.kube.calls import api_failure, call_api

LEAKED = "pss_service:v2:3f9c2b7e0d0a4c1e9b5a6d7c8e9f0a1b:feedfacecafebeef0123456789abcdef"


async def _refusal(kube: KubeAPI, *args: object) -> ApiException:
    with pytest.raises(ApiException) as refused:
        await call_api("read Secret payments/s", SecretWriteError,
                       kube.core_v1().read_namespaced_secret, *args)
    return refused.value


# -- call_api -----------------------------------------------------------------------------------


async def test_a_call_returns_what_the_api_answered(kube_api: KubeAPI) -> None:
    namespaces = await call_api("list namespaces", KubernetesApiError,
                                kube_api.core_v1().list_namespace)
    assert {item.metadata.name for item in namespaces.items} >= {"default", "kube-system"}


async def test_keyword_arguments_reach_the_call(kube_api: KubeAPI) -> None:
    namespaces = await call_api("list namespaces", KubernetesApiError,
                                kube_api.core_v1().list_namespace,
                                field_selector="metadata.name=kube-system")
    assert [item.metadata.name for item in namespaces.items] == ["kube-system"]


async def test_the_call_runs_in_a_worker_thread_so_the_loop_keeps_turning() -> None:
    loop = asyncio.get_running_loop()
    started, finish = asyncio.Event(), threading.Event()

    def blocking() -> str:
        loop.call_soon_threadsafe(started.set)
        finish.wait(timeout=10)
        return threading.current_thread().name

    call = asyncio.create_task(call_api("block", KubernetesApiError, blocking))
    await asyncio.wait_for(started.wait(), timeout=10)  # the loop turns while the call blocks
    finish.set()
    assert await call != threading.current_thread().name


async def test_an_api_refusal_passes_through_for_the_caller_to_judge(kube_api: KubeAPI) -> None:
    kube_api.ensure_namespace("payments")
    error = await _refusal(kube_api, "missing", "payments")
    assert error.status == 404


async def test_an_unreachable_api_becomes_the_callers_own_error() -> None:
    configuration = kubernetes.client.Configuration(host="http://127.0.0.1:9")
    configuration.retries = 0
    core = kubernetes.client.CoreV1Api(kubernetes.client.ApiClient(configuration))

    with pytest.raises(KubernetesApiError) as unreachable:
        await call_api("list Secrets", KubernetesApiError, core.list_namespaced_secret, "x")

    assert str(unreachable.value) == (
        "cannot list Secrets: Kubernetes API unreachable (MaxRetryError)")
    assert isinstance(unreachable.value.__cause__, urllib3.exceptions.HTTPError)
    assert unreachable.value.retryable


async def test_an_api_server_that_went_down_is_unreachable(kube_api: KubeAPI) -> None:
    core = kube_api.core_v1()
    core.api_client.configuration.retries = 0
    with kube_api.outage(), pytest.raises(SecretWriteError, match="Kubernetes API unreachable"):
        await call_api("read Secret payments/s", SecretWriteError,
                       core.read_namespaced_secret, "s", "payments")


@pytest.mark.parametrize("error", [ConnectionResetError(104, "reset"), TimeoutError("slow")])
async def test_socket_failures_are_unreachable_too(error: OSError) -> None:
    def failing() -> None:
        raise error

    with pytest.raises(SecretWriteError) as unreachable:
        await call_api("replace Secret payments/s", SecretWriteError, failing)
    assert f"({type(error).__name__})" in str(unreachable.value)
    assert type(unreachable.value.__cause__) is type(error)


async def test_a_bug_in_the_call_is_not_disguised_as_an_outage() -> None:
    def buggy() -> None:
        raise ValueError("Invalid value for `name`, must not be `None`")

    with pytest.raises(ValueError, match="must not be"):
        await call_api("read Secret", SecretWriteError, buggy)


# -- api_failure --------------------------------------------------------------------------------


async def test_the_reason_and_message_come_from_the_apis_status(kube_api: KubeAPI) -> None:
    kube_api.ensure_namespace("payments")
    kube_api.refuse("get /api/v1/namespaces/payments/secrets/s", 403, "Forbidden",
                    'secrets "s" is forbidden: User "system:serviceaccount:eio:eio" cannot get')
    error = await _refusal(kube_api, "s", "payments")
    assert api_failure(error) == (
        "Forbidden",
        'secrets "s" is forbidden: User "system:serviceaccount:eio:eio" cannot get',
    )


async def test_a_not_found_names_the_object(kube_api: KubeAPI) -> None:
    kube_api.ensure_namespace("payments")
    error = await _refusal(kube_api, "missing", "payments")
    assert api_failure(error) == ("NotFound", 'secrets "missing" not found')


async def test_a_token_in_the_apis_message_is_redacted_and_long_text_cut(
    kube_api: KubeAPI,
) -> None:
    kube_api.ensure_namespace("payments")
    kube_api.refuse("get /api/v1/namespaces/payments/secrets/s", 500, "InternalError",
                    f"webhook echoed {LEAKED} " + "x" * 1000)
    reason, message = api_failure(await _refusal(kube_api, "s", "payments"))
    assert reason == "InternalError"
    assert LEAKED not in message and "[redacted]" in message
    assert len(message) <= 301 and message.endswith("…")


@pytest.mark.parametrize(("body", "expected"), [
    (None, ("Service Unavailable", "")),
    ("<html>bad gateway</html>", ("Service Unavailable", "")),
    ('["not", "a", "status"]', ("Service Unavailable", "")),
    ('{"kind": "Status"}', ("Service Unavailable", "")),
    ('{"kind": "Status", "reason": "ServiceUnavailable", "message": "etcd down"}',
     ("ServiceUnavailable", "etcd down")),
])
def test_without_a_usable_status_the_http_reason_stands(
    body: str | None, expected: tuple[str, str]
) -> None:
    error = ApiException(status=503, reason="Service Unavailable")
    error.body = body
    assert api_failure(error) == expected


def test_without_any_reason_the_status_code_is_the_reason() -> None:
    error = ApiException(status=418)
    assert api_failure(error) == ("418", "")
