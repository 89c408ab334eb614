"""A throwaway kopf operator that proves kopf runs against the emulator (test_kopf.py).

For each ServiceAccountBinding it creates a Secret owned by the binding and reports it in
status; deleting the binding deletes the Secret (a delete handler, so kopf adds and later
removes its finalizer). Not the product: the real controller lives in external_identity.
"""

from __future__ import annotations

import asyncio
import logging
from typing import Any

import kopf
import kubernetes

GROUP, VERSION, PLURAL = "externalidentity.dev", "v1alpha1", "serviceaccountbindings"
FINALIZER = "selftest.externalidentity.dev/cleanup"
PREFIX = "selftest.externalidentity.dev"


@kopf.on.startup()
def configure(settings: kopf.OperatorSettings, memo: kopf.Memo, **_: Any) -> None:
    settings.persistence.finalizer = FINALIZER
    # Our CRDs prune unknown status fields (as a real API server does): keep kopf's own
    # bookkeeping in annotations, not in status.kopf.
    settings.persistence.progress_storage = kopf.AnnotationsProgressStorage(prefix=PREFIX)
    settings.persistence.diffbase_storage = kopf.AnnotationsDiffBaseStorage(prefix=PREFIX)
    settings.posting.level = logging.INFO
    settings.networking.request_timeout = 10
    configuration = kubernetes.client.Configuration()
    kubernetes.config.load_kube_config(client_configuration=configuration)  # $KUBECONFIG
    memo.core = kubernetes.client.CoreV1Api(kubernetes.client.ApiClient(configuration))


@kopf.on.create(GROUP, VERSION, PLURAL)
async def create_secret(
    body: kopf.Body, name: str, namespace: str, patch: kopf.Patch, memo: kopf.Memo, **_: Any
) -> None:
    secret: dict[str, Any] = {
        "metadata": {"name": f"{name}-token"},
        "stringData": {"token": "selftest"},
    }
    kopf.adopt(secret, owner=body)
    await asyncio.to_thread(memo.core.create_namespaced_secret, namespace, secret)
    kopf.info(body, reason="SecretCreated", message=f"Created Secret {secret['metadata']['name']}")
    patch.status["secretName"] = secret["metadata"]["name"]
    patch.status["observedGeneration"] = body.metadata.get("generation")


@kopf.on.delete(GROUP, VERSION, PLURAL)
async def delete_secret(name: str, namespace: str, memo: kopf.Memo, **_: Any) -> None:
    await asyncio.to_thread(memo.core.delete_namespaced_secret, f"{name}-token", namespace)
