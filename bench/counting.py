"""Counting what happened: the emulator's store and call log, the token service's records, the log.

The store and call-log readers take the emulator and run on its loop (``kube.call(reader,
kube.emulator, ...)``): no copies, no HTTP. Nothing here waits or writes.
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Sequence

import kmock
from support.kube.emulator import KubeEmulator
from support.peers.phase_model import IssuedToken
from support.peers.phase_server import PhaseServer

from bench.model import BINDINGS, SECRETS, Binding

_NOISE = re.compile(r"sab-\d+(-token)?|bench-\d+|\d[\d.:,T-]*|'[^']*'|\"[^\"]*\"")


def ready_indexes(emulator: KubeEmulator, bindings: Sequence[Binding]) -> set[int]:
    """Bindings Ready=True/TokenIssued for their current generation, with a token Secret."""
    store = emulator.store
    sabs, secrets = kmock.resource(BINDINGS), kmock.resource(SECRETS)
    ready: set[int] = set()
    for index, binding in enumerate(bindings):
        obj = store.current((sabs, binding.namespace, binding.name))
        if obj is None:
            continue
        status = obj.get("status") or {}
        if status.get("observedGeneration") != obj["metadata"].get("generation"):
            continue
        if not any(
            (c.get("type"), c.get("status"), c.get("reason")) == ("Ready", "True", "TokenIssued")
            for c in status.get("conditions") or []
        ):
            continue
        secret = store.current((secrets, binding.namespace, binding.secret))
        if secret is not None and (secret.get("data") or {}).get("token"):
            ready.add(index)
    return ready


def secret_reads_since(emulator: KubeEmulator, start: int) -> tuple[int, set[tuple[str, str]]]:
    """(new end of the call log, Secrets read by name since ``start``)."""
    calls = emulator.calls
    read = {
        (str(call.namespace), str(call.name))
        for call in calls[start:]
        if call.resource == "secrets" and call.verb == "get" and call.name
    }
    return len(calls), read


def call_count(emulator: KubeEmulator) -> int:
    return len(emulator.calls)


def call_kinds(emulator: KubeEmulator, start: int, end: int | None = None) -> Counter[str]:
    """``verb resource[/subresource]`` (or the HTTP verb for non-resource URLs) per call."""
    kinds: Counter[str] = Counter()
    for call in emulator.calls[start:end]:
        if call.resource is None:
            kinds[f"{call.method.lower()} (discovery)"] += 1
        else:
            kinds[f"{call.verb} {call.rbac_resource}"] += 1
    return kinds


def auth_requests(phase: PhaseServer) -> tuple[int, int]:
    """(auth requests answered, of which not 200)."""
    requests = [r for r in phase.records.requests if r.provider in ("aws-iam", "azure")]
    return len(requests), sum(1 for r in requests if r.status != 200)


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
