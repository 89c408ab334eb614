"""``operate`` in-process: the fleet first, then kopf; a stop flag ends both cleanly, with
the operator closed and the first token already written."""

from __future__ import annotations

import asyncio

import pytest
from support.peers.phase_model import ServiceAccount

from external_identity.controller.running import RunOptions, operate
from external_identity.controller.settings import OperatorSettings
from tests.controller.conftest import eventually
from tests.operator.harness import Cluster

pytestmark = pytest.mark.usefixtures("aws_env", "loopback_only")


async def test_a_stop_flag_ends_the_operator_after_its_first_token(
    cluster: Cluster, account: ServiceAccount,
) -> None:
    cluster.apply_identity()
    cluster.apply_binding(account.id, ttl=600)
    stop = asyncio.Event()
    options = RunOptions(OperatorSettings(), kubeconfig=str(cluster.kube.kubeconfig_path))
    running = asyncio.ensure_future(operate(options, stop_flag=stop))
    await eventually(cluster.token, "the first token")
    stop.set()
    async with asyncio.timeout(20):
        await running
    assert running.exception() is None


async def test_a_bad_kubeconfig_fails_before_anything_starts() -> None:
    from external_identity.errors import ConfigurationError

    options = RunOptions(OperatorSettings(), kubeconfig="/nonexistent/kubeconfig")
    with pytest.raises(ConfigurationError, match="cannot load Kubernetes configuration"):
        await operate(options, stop_flag=asyncio.Event())
