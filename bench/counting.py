"""Counting what happened: API requests, the token service's records, the operator's log.

Pure functions over what :class:`~bench.clusters.Cluster` and the Phase peer recorded; nothing
here waits, writes or does I/O.
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Iterable, Sequence

from support.kube.apimachinery import ApiCall
from support.peers.phase_model import IssuedToken
from support.peers.phase_server import PhaseServer

from bench.model import Binding

_NOISE = re.compile(
    r"sab-\d+(-token)?|eidb-[0-9a-f]+-n\d+-|(operator|floor)-\d+|bench-aws\S*"
    r"|\d[\d.:,T-]*|'[^']*'|\"[^\"]*\""
)


def secret_reads(calls: Iterable[ApiCall]) -> set[tuple[str, str]]:
    """Secrets read by name: (namespace, name)."""
    return {
        (str(call.namespace), str(call.name))
        for call in calls
        if call.resource == "secrets" and call.verb == "get" and call.name
    }


def call_kinds(calls: Iterable[ApiCall]) -> Counter[str]:
    """``verb resource[/subresource]`` (or the HTTP verb for non-resource URLs) per call."""
    kinds: Counter[str] = Counter()
    for call in calls:
        if call.resource is None:
            kinds[f"{call.method.lower()} (discovery)"] += 1
        else:
            kinds[f"{call.verb} {call.rbac_resource}"] += 1
    return kinds


def auth_requests(phase: PhaseServer, since: int = 0) -> tuple[int, int]:
    """(auth requests answered since the ``since``-th, of which not 200)."""
    requests = [
        r for r in phase.records.requests[since:] if r.provider in ("aws-iam", "azure")
    ]
    return len(requests), sum(1 for r in requests if r.status != 200)


def request_mark(phase: PhaseServer) -> int:
    return len(phase.records.requests)


def tokens_by_binding(
    phase: PhaseServer, bindings: Sequence[Binding], since: float
) -> list[list[IssuedToken]]:
    """Tokens issued since ``since`` (epoch seconds), per binding, oldest first."""
    index = {binding.account_id: position for position, binding in enumerate(bindings)}
    issued: list[list[IssuedToken]] = [[] for _ in bindings]
    for token in phase.records.tokens:
        position = index.get(token.service_account_id)
        if position is not None and token.issued_at >= since:
            issued[position].append(token)
    for tokens in issued:
        tokens.sort(key=lambda token: token.issued_at)
    return issued


def log_problems(output: str) -> Counter[str]:
    """WARNING/ERROR lines of the operator's log, with names and numbers blanked, counted."""
    problems: Counter[str] = Counter()
    for line in output.splitlines():
        parts = line.split(" ", 3)
        if len(parts) == 4 and parts[2] in ("WARNING", "ERROR", "CRITICAL"):
            problems[_NOISE.sub("…", f"{parts[2]} {parts[3]}")[:110]] += 1
    return problems
