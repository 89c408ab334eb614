"""``external-identity run``: the binding fleet first, then kopf for the rest.

The fleet (:mod:`.assembly`) lists, issues and refreshes on its own; kopf writes identity
status and watches, when asked, ServiceAccounts and workloads. Importing kopf and aiohttp takes
a few hundred milliseconds of CPU with the loop blocked, so it waits until the fleet has
stepped its first binding (or for :data:`KOPF_WAITS_AT_MOST`): the first token does not wait
for kopf. With ``--peering`` kopf starts at once: the other replicas learn of this one from
kopf's record in the peering object, and must stand by as soon as possible. SIGTERM and SIGINT
stop the operator cleanly before kopf has started too.
"""

from __future__ import annotations

import asyncio
import contextlib
import signal
from dataclasses import dataclass

from external_identity.controller.assembly import assemble
from external_identity.controller.settings import OperatorSettings
from external_identity.controller.watching.peering import Peering

__all__ = ["KOPF_WAITS_AT_MOST", "RunOptions", "run_operator"]

#: Seconds kopf's start waits at most for the fleet's first step (a slow or refused LIST).
KOPF_WAITS_AT_MOST = 2.0
#: Stop the operator (kopf's own handlers take them over once it runs).
STOP_SIGNALS = (signal.SIGTERM, signal.SIGINT)


@dataclass(frozen=True)
class RunOptions:
    settings: OperatorSettings
    #: kopf peering object name for HA; None runs standalone (a single replica).
    peering_name: str | None = None
    priority: int = 0
    liveness_endpoint: str | None = None
    #: Reach the cluster through this kubeconfig file and/or context (None: in-cluster, else
    #: ``$KUBECONFIG`` and its current context).
    kubeconfig: str | None = None
    context: str | None = None


def _stop_on_signals() -> asyncio.Event:
    """An event set by SIGTERM or SIGINT, until kopf handles them (see :func:`operate`)."""
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in STOP_SIGNALS:
        loop.add_signal_handler(signum, stop.set)
    return stop


async def _any_set(*events: asyncio.Event) -> None:
    waits = [asyncio.ensure_future(event.wait()) for event in events]
    try:
        await asyncio.wait(waits, return_when=asyncio.FIRST_COMPLETED)
    finally:
        for wait in waits:
            wait.cancel()
        await asyncio.gather(*waits, return_exceptions=True)


async def operate(options: RunOptions, *, stop_flag: asyncio.Event | None = None) -> None:
    stop = stop_flag or _stop_on_signals()
    peering = None
    if options.peering_name is not None:
        peering = Peering.for_this_process(options.peering_name, options.priority)
    operator = await assemble(options.settings, kubeconfig=options.kubeconfig,
                              context=options.context)
    operator.start(peering)
    try:
        if peering is None:
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(KOPF_WAITS_AT_MOST):
                    await _any_set(operator.fleet.under_way, stop)
        if stop.is_set():
            return
        if stop_flag is None:
            # kopf installs its own handlers; a stop flag it is given but never sees set would
            # hold its exit for 5 s as a "hung task".
            for signum in STOP_SIGNALS:
                asyncio.get_running_loop().remove_signal_handler(signum)
        from external_identity.controller.handlers import run_kopf

        await run_kopf(
            operator,
            peering,
            namespaces=options.settings.namespaces,
            peering_name=options.peering_name,
            priority=options.priority,
            liveness_endpoint=options.liveness_endpoint,
            stop_flag=stop_flag,
        )
    finally:
        await operator.close()


def run_operator(options: RunOptions) -> None:
    asyncio.run(operate(options))
