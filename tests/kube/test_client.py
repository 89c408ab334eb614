"""Building the Kubernetes client: a kubeconfig (the emulator's own) for the CLI, the in-cluster
configuration in a pod, and a clear ConfigurationError when neither can be loaded."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import kubernetes
import pytest
from support.kube.server import KubeAPI

from external_identity.errors import ConfigurationError
from external_identity.kube.client import load_api_client, load_core_api

ELSEWHERE = "http://127.0.0.1:9"


def _kubeconfig(path: Path, *, current: str, **servers: str) -> Path:
    path.write_text(json.dumps({
        "apiVersion": "v1", "kind": "Config", "current-context": current,
        "clusters": [{"name": name, "cluster": {"server": url}} for name, url in servers.items()],
        "users": [{"name": "user", "user": {"token": "kubeconfig-token"}}],
        "contexts": [{"name": name, "context": {"cluster": name, "user": "user"}}
                     for name in servers],
    }))
    return path


@pytest.fixture
def in_a_pod(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> str:
    """What the kubelet gives a pod: the service's address and a projected ServiceAccount token.

    The kubernetes library reads the token and CA from fixed paths; they are pointed at files
    here (its constants, not the code under test)."""
    token, ca = tmp_path / "token", tmp_path / "ca.crt"
    token.write_text("pod-service-account-token")
    ca.write_text("-----BEGIN CERTIFICATE-----\nnot checked until connecting\n")
    incluster = kubernetes.config.incluster_config
    monkeypatch.setattr(incluster, "SERVICE_TOKEN_FILENAME", str(token))
    monkeypatch.setattr(incluster, "SERVICE_CERT_FILENAME", str(ca))
    monkeypatch.setenv("KUBERNETES_SERVICE_HOST", "127.0.0.1")
    monkeypatch.setenv("KUBERNETES_SERVICE_PORT", "6443")
    return "https://127.0.0.1:6443"


def _bearer(client: kubernetes.client.ApiClient) -> Any:
    """The Authorization header the client sends."""
    return client.configuration.auth_settings().get("BearerToken", {}).get("value")


def test_a_kubeconfig_gives_a_client_that_talks_to_its_cluster(kube_api: KubeAPI) -> None:
    client = load_api_client(str(kube_api.kubeconfig_path))
    try:
        assert client.configuration.host == kube_api.url
        assert _bearer(client) == "Bearer emulator-token"
        names = {item.metadata.name
                 for item in kubernetes.client.CoreV1Api(client).list_namespace().items}
    finally:
        client.close()
    assert names >= {"default", "kube-system"}


def test_the_core_api_is_built_on_that_client(kube_api: KubeAPI) -> None:
    core = load_core_api(str(kube_api.kubeconfig_path))
    try:
        assert isinstance(core, kubernetes.client.CoreV1Api)
        assert core.read_namespace("default").metadata.name == "default"
    finally:
        core.api_client.close()


def test_a_context_picks_its_cluster_from_the_kubeconfig(
    kube_api: KubeAPI, tmp_path: Path
) -> None:
    path = _kubeconfig(tmp_path / "two", current="elsewhere", emulator=kube_api.url,
                       elsewhere=ELSEWHERE)
    assert load_api_client(str(path)).configuration.host == ELSEWHERE
    chosen = load_api_client(str(path), "emulator")
    assert chosen.configuration.host == kube_api.url
    assert _bearer(chosen) == "Bearer kubeconfig-token"


def test_the_pool_size_is_set_only_when_asked_for(kube_api: KubeAPI) -> None:
    default = kubernetes.client.Configuration().connection_pool_maxsize
    path = str(kube_api.kubeconfig_path)
    assert load_api_client(path, pool_size=37).configuration.connection_pool_maxsize == 37
    assert load_api_client(path).configuration.connection_pool_maxsize == default


def test_loading_leaves_the_process_wide_default_configuration_alone(kube_api: KubeAPI) -> None:
    before = kubernetes.client.Configuration.get_default_copy().host
    load_api_client(str(kube_api.kubeconfig_path))
    assert kubernetes.client.Configuration.get_default_copy().host == before != kube_api.url


def test_outside_a_pod_without_arguments_the_kubeconfig_variable_is_used(
    kube_env: KubeAPI,
) -> None:
    assert load_api_client().configuration.host == kube_env.url


def test_in_a_pod_the_in_cluster_configuration_wins_over_the_kubeconfig_variable(
    kube_env: KubeAPI, in_a_pod: str
) -> None:
    client = load_api_client()
    assert client.configuration.host == in_a_pod
    assert _bearer(client).lower() == "bearer pod-service-account-token"


def test_in_a_pod_the_projected_token_is_read_again_as_the_kubelet_rotates_it(
    kube_env: KubeAPI, in_a_pod: str
) -> None:
    assert load_api_client().configuration.refresh_api_key_hook is not None


def test_in_a_pod_an_explicit_kubeconfig_or_context_still_wins(
    kube_env: KubeAPI, in_a_pod: str, tmp_path: Path
) -> None:
    assert load_api_client(str(kube_env.kubeconfig_path)).configuration.host == kube_env.url
    assert load_api_client(context="emulator").configuration.host == kube_env.url


def test_a_missing_kubeconfig_is_a_configuration_error_without_a_chained_traceback(
    tmp_path: Path,
) -> None:
    with pytest.raises(ConfigurationError) as refused:
        load_api_client(str(tmp_path / "absent"))
    assert str(refused.value).startswith("cannot load Kubernetes configuration: ")
    assert refused.value.__cause__ is None and refused.value.__suppress_context__


def test_an_unknown_context_is_a_configuration_error(kube_api: KubeAPI) -> None:
    with pytest.raises(ConfigurationError, match="cannot load Kubernetes configuration"):
        load_api_client(str(kube_api.kubeconfig_path), "production")


@pytest.mark.parametrize("content", [
    "",
    json.dumps({"apiVersion": "v1", "kind": "Config", "users": []}),
    json.dumps({"apiVersion": "v1", "kind": "Config", "current-context": "c",
                "contexts": [{"name": "c", "context": {"cluster": "gone", "user": "u"}}],
                "users": [{"name": "u", "user": {"token": "kubeconfig-token"}}]}),
])
def test_an_incomplete_kubeconfig_is_a_configuration_error_that_shows_no_token(
    tmp_path: Path, content: str
) -> None:
    path = tmp_path / "kubeconfig"
    path.write_text(content)
    with pytest.raises(ConfigurationError) as refused:
        load_api_client(str(path))
    assert "kubeconfig-token" not in str(refused.value)


def test_a_directory_given_as_kubeconfig_is_a_configuration_error(tmp_path: Path) -> None:
    with pytest.raises(ConfigurationError, match="cannot load Kubernetes configuration"):
        load_api_client(str(tmp_path))


@pytest.mark.parametrize("content", ["a: [", "just a string"])
def test_a_kubeconfig_that_is_not_a_yaml_mapping_is_a_configuration_error(
    tmp_path: Path, content: str
) -> None:
    path = tmp_path / "kubeconfig"
    path.write_text(content)
    with pytest.raises(ConfigurationError, match="cannot load Kubernetes configuration"):
        load_api_client(str(path))
