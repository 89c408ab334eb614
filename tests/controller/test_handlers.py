"""kopf's handlers: its login is the operator's own connection, so both reach one API server as
one user."""

from __future__ import annotations

import kopf

from external_identity.controller.assembly import assemble
from external_identity.controller.handlers import login
from external_identity.controller.settings import OperatorSettings
from tests.operator.harness import Cluster


async def test_kopf_logs_in_with_the_operators_kubeconfig_and_context(cluster: Cluster) -> None:
    operator = await assemble(OperatorSettings(),
                              kubeconfig=str(cluster.kube.kubeconfig_path))
    try:
        info = login(memo=kopf.Memo(operator=operator))
    finally:
        await operator.close()
    configuration = operator.api.configuration
    assert info.server == configuration.host
    assert info.server.startswith("http://127.0.0.1:")
    assert info.default_namespace == operator.kube_namespace
