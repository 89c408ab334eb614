"""Kubernetes client construction: kubeconfig for the CLI, in-cluster for the pod."""

from __future__ import annotations

import yaml
from kubernetes import client, config
from kubernetes.config.config_exception import ConfigException

from external_identity.errors import ConfigurationError

__all__ = ["load_api_client", "load_core_api"]


def load_api_client(
    kubeconfig: str | None = None, context: str | None = None, *, pool_size: int | None = None
) -> client.ApiClient:
    """In-cluster config when running in a pod, else the kubeconfig (``$KUBECONFIG``)."""
    configuration = client.Configuration()
    if pool_size is not None:
        configuration.connection_pool_maxsize = pool_size
    try:
        if kubeconfig is None and context is None:
            try:
                config.load_incluster_config(client_configuration=configuration)
                return client.ApiClient(configuration)
            except ConfigException:
                pass
        config.load_kube_config(
            config_file=kubeconfig, context=context, client_configuration=configuration
        )
    except (ConfigException, OSError) as error:
        raise ConfigurationError(f"cannot load Kubernetes configuration: {error}") from None
    except (yaml.YAMLError, TypeError, AttributeError):
        # yaml's message quotes the file, which may hold a token: say where, not what.
        raise ConfigurationError(
            f"cannot load Kubernetes configuration: {kubeconfig or '$KUBECONFIG'} is not a "
            "kubeconfig (a YAML mapping)"
        ) from None
    return client.ApiClient(configuration)


def load_core_api(kubeconfig: str | None = None, context: str | None = None) -> client.CoreV1Api:
    return client.CoreV1Api(load_api_client(kubeconfig, context))
