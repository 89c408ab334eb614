"""Kubernetes client construction: kubeconfig for the CLI, in-cluster for the pod."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml
from kubernetes import client, config
from kubernetes.config.config_exception import ConfigException

from external_identity.errors import ConfigurationError

__all__ = ["KubeConnection", "connect", "load_api_client", "load_core_api"]

#: The namespace of the pod's service account (next to its token).
SERVICE_ACCOUNT_NAMESPACE = Path("/var/run/secrets/kubernetes.io/serviceaccount/namespace")


@dataclass(frozen=True)
class KubeConnection:
    api: client.ApiClient
    #: The pod's namespace in a cluster, else the kubeconfig context's (None: it names none).
    namespace: str | None


def connect(
    kubeconfig: str | None = None, context: str | None = None, *, pool_size: int | None = None
) -> KubeConnection:
    """In-cluster config when running in a pod, else the kubeconfig (``$KUBECONFIG``); a
    ``kubeconfig`` file or a ``context`` given means that kubeconfig, even in a pod."""
    configuration = client.Configuration()
    if pool_size is not None:
        configuration.connection_pool_maxsize = pool_size
    try:
        if kubeconfig is None and context is None:
            try:
                config.load_incluster_config(client_configuration=configuration)
                return KubeConnection(client.ApiClient(configuration), _pod_namespace())
            except ConfigException:
                pass
        config.load_kube_config(
            config_file=kubeconfig, context=context, client_configuration=configuration
        )
        namespace = _context_namespace(kubeconfig, context)
    except (ConfigException, OSError) as error:
        raise ConfigurationError(f"cannot load Kubernetes configuration: {error}") from None
    except (yaml.YAMLError, TypeError, AttributeError):
        # yaml's message quotes the file, which may hold a token: say where, not what.
        raise ConfigurationError(
            f"cannot load Kubernetes configuration: {kubeconfig or '$KUBECONFIG'} is not a "
            "kubeconfig (a YAML mapping)"
        ) from None
    return KubeConnection(client.ApiClient(configuration), namespace)


def load_api_client(
    kubeconfig: str | None = None, context: str | None = None, *, pool_size: int | None = None
) -> client.ApiClient:
    """In-cluster config when running in a pod, else the kubeconfig (``$KUBECONFIG``)."""
    return connect(kubeconfig, context, pool_size=pool_size).api


def load_core_api(kubeconfig: str | None = None, context: str | None = None) -> client.CoreV1Api:
    return client.CoreV1Api(load_api_client(kubeconfig, context))


def _pod_namespace() -> str | None:
    try:
        return SERVICE_ACCOUNT_NAMESPACE.read_text().strip() or None
    except OSError:
        return None


def _context_namespace(kubeconfig: str | None, context: str | None) -> str | None:
    contexts, current = config.list_kube_config_contexts(config_file=kubeconfig)
    chosen: Any = current if context is None else next(
        (entry for entry in contexts if entry.get("name") == context), None)
    namespace = ((chosen or {}).get("context") or {}).get("namespace")
    return str(namespace) if namespace else None
