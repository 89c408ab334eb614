"""Start the kopf operator with our registry and settings (``external-identity run``)."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from typing import Any, cast

import kopf

from .handlers import registry, watch_service_accounts, watch_workloads
from .peering import Peering
from .settings import OperatorSettings

__all__ = ["RunOptions", "run_operator"]


@dataclass(frozen=True)
class RunOptions:
    settings: OperatorSettings
    #: kopf peering object name for HA; None runs standalone (a single replica).
    peering_name: str | None = None
    priority: int = 0
    liveness_endpoint: str | None = None


async def operate(options: RunOptions, *, stop_flag: asyncio.Event | None = None) -> None:
    namespaces = options.settings.namespaces
    if options.settings.watch_service_accounts:
        watch_service_accounts()
    if options.settings.restart_on_rotation:
        watch_workloads()
    peering = None
    if options.peering_name is not None:
        peering = Peering.for_this_process(options.peering_name, options.priority)
    await kopf.operator(
        registry=registry,
        clusterwide=not namespaces,
        namespaces=namespaces,
        standalone=options.peering_name is None,
        peering_name=options.peering_name,
        priority=options.priority,
        liveness_endpoint=options.liveness_endpoint,
        identity=cast(Any, peering.identity if peering is not None else None),
        memo=kopf.Memo(settings=options.settings, peering=peering),
        stop_flag=stop_flag,
    )


def run_operator(options: RunOptions) -> None:
    asyncio.run(operate(options))
