"""What SecretWriter says when the API refuses: the Secret and the reason, never the token."""

from __future__ import annotations

import dataclasses
import logging
import traceback

import kubernetes
import pytest
from support.kube.fixtures import KubeAPI

from external_identity.errors import NamespaceTerminating, SecretWriteError
from external_identity.secrets.data import SecretTarget
from external_identity.secrets.writer import SecretWriter
from tests.secrets.writer.samples import BEARER, TOKEN, issued

SECRET_VALUES = (TOKEN, BEARER, TOKEN.split(":", 2)[2])


def assert_no_secret_material(*texts: str) -> None:
    for text in texts:
        for value in SECRET_VALUES:
            assert value not in text


def everything_about(error: BaseException) -> str:
    return "".join(traceback.format_exception(error))


def log_everything(caplog: pytest.LogCaptureFixture) -> None:
    # Named loggers too: other tests' logging setup may have raised their levels.
    for name in (None, "external_identity", "kubernetes", "urllib3"):
        caplog.set_level(logging.DEBUG, logger=name)


async def test_an_api_refusal_names_the_secret_and_the_reason(
    kube_api: KubeAPI, writer: SecretWriter, target: SecretTarget, caplog: pytest.LogCaptureFixture
) -> None:
    log_everything(caplog)
    kube_api.refuse(f"post /api/v1/namespaces/{target.namespace}/secrets", 403, "Forbidden",
                    'secrets is forbidden: User "system:serviceaccount:eio:eio" cannot create '
                    'resource "secrets"')

    with pytest.raises(SecretWriteError) as caught:
        await writer.write(target, issued())

    message = str(caught.value)
    assert message.startswith(f"cannot create Secret {target.ref}: 403 Forbidden")
    assert "cannot create resource" in message
    assert caught.value.retryable is True
    assert_no_secret_material(message, everything_about(caught.value), caplog.text)


async def test_a_missing_namespace_is_reported(writer: SecretWriter, target: SecretTarget) -> None:
    with pytest.raises(SecretWriteError, match='404 NotFound: namespaces "gone" not found'):
        await writer.write(dataclasses.replace(target, namespace="gone"), issued())


async def test_a_terminating_namespace_is_reported_as_such(
    kube_api: KubeAPI, writer: SecretWriter, target: SecretTarget
) -> None:
    kube_api.core_v1().delete_namespace(target.namespace)

    with pytest.raises(NamespaceTerminating) as caught:
        await writer.write(target, issued())

    assert isinstance(caught.value, SecretWriteError)
    assert caught.value.retryable is False
    assert f"namespace {target.namespace} is being terminated" in str(caught.value)


async def test_endless_conflicts_give_up_after_a_bounded_number_of_tries(
    kube_api: KubeAPI, target: SecretTarget
) -> None:
    writer = SecretWriter(kube_api.core_v1(), conflict_retries=2)
    await writer.write(target, issued("pss_service:v2:first"))
    kube_api.refuse(f"put /api/v1/namespaces/{target.namespace}/secrets/{target.name}",
                    409, "Conflict", "the object has been modified")
    kube_api.clear_calls()

    with pytest.raises(SecretWriteError, match="gave up after 3 attempts"):
        await writer.write(target, issued())

    assert [c.verb for c in kube_api.calls() if c.verb == "update"] == ["update"] * 3


async def test_a_server_error_mid_refresh_leaves_the_old_token_in_place(
    kube_api: KubeAPI, writer: SecretWriter, target: SecretTarget, caplog: pytest.LogCaptureFixture
) -> None:
    log_everything(caplog)
    await writer.write(target, issued("pss_service:v2:old"))
    before = kube_api.get("v1/secrets", target.namespace, target.name)
    kube_api.refuse(f"put /api/v1/namespaces/{target.namespace}/secrets/{target.name}",
                    500, "InternalError", "etcdserver: request timed out", times=1)

    with pytest.raises(SecretWriteError, match="500 InternalError: etcdserver") as caught:
        await writer.write(target, issued())

    assert kube_api.get("v1/secrets", target.namespace, target.name) == before
    assert_no_secret_material(str(caught.value), everything_about(caught.value), caplog.text)


async def test_an_unreachable_api_is_a_write_error(target: SecretTarget) -> None:
    configuration = kubernetes.client.Configuration(host="http://127.0.0.1:9")
    configuration.retries = 0
    writer = SecretWriter(kubernetes.client.CoreV1Api(kubernetes.client.ApiClient(configuration)))

    with pytest.raises(SecretWriteError, match="Kubernetes API unreachable") as caught:
        await writer.write(target, issued())

    assert_no_secret_material(everything_about(caught.value))


async def test_an_empty_token_is_never_written(
    kube_api: KubeAPI, writer: SecretWriter, target: SecretTarget
) -> None:
    await writer.write(target, issued("pss_service:v2:good"))
    before = kube_api.get("v1/secrets", target.namespace, target.name)

    with pytest.raises(SecretWriteError, match="empty token"):
        await writer.write(target, issued(""))

    assert kube_api.get("v1/secrets", target.namespace, target.name) == before


async def test_successful_writes_log_nothing_secret(
    writer: SecretWriter, target: SecretTarget, caplog: pytest.LogCaptureFixture
) -> None:
    log_everything(caplog)
    await writer.write(target, issued())
    await writer.write(target, issued())
    await writer.read(target)
    await writer.delete(target)

    assert f"Created Secret {target.namespace}/{target.name}" in caplog.text
    assert f"Deleted Secret {target.namespace}/{target.name}" in caplog.text
    assert_no_secret_material(caplog.text)
