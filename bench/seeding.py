"""The objects a size needs: namespaces, one ExternalIdentity, N ServiceAccountBindings per set.

The operator's bindings and the floor's live in namespaces of their own (``operator-*``,
``floor-*``), labelled so either can be listed or removed alone. Each binding gets its own
token-service account (registered with the Phase peer, trusting moto's principals), so every
issued token maps back to one binding. On the emulator the objects go straight into its store;
on a real cluster they are created through a client that is not counted.
"""

from __future__ import annotations

from typing import Any

from support.peers.phase_server import PhaseServer
from support.peers.sts_peer import StsPeer

from bench.clusters import Cluster
from bench.model import GROUP_VERSION, RUN_LABEL, SET_LABEL, Binding, BindingSet

NAMESPACES = 10
MAX_TTL = 86400


def identity_body(name: str, phase: PhaseServer, sts: StsPeer, ttl: int) -> dict[str, Any]:
    return {
        "apiVersion": GROUP_VERSION,
        "kind": "ExternalIdentity",
        "metadata": {"name": name},
        "spec": {
            "provider": "aws-iam",
            "tokenService": {"host": phase.base_url},
            "defaultTTL": ttl,
            "maxTTL": MAX_TTL,
            "aws": {"stsEndpoint": sts.endpoint},
            # Every binding has an account of its own, thousands of them: more than the 256
            # entries an identity lists, so this one mints for any.
            "serviceAccounts": [{"id": "*"}],
        },
    }


def namespace_body(name: str, run: str) -> dict[str, Any]:
    return {
        "apiVersion": "v1",
        "kind": "Namespace",
        "metadata": {"name": name, "labels": {RUN_LABEL: run}},
    }


def binding_body(
    binding: Binding, identity: str, ttl: int, labels: dict[str, str]
) -> dict[str, Any]:
    return {
        "apiVersion": GROUP_VERSION,
        "kind": "ServiceAccountBinding",
        "metadata": {"name": binding.name, "namespace": binding.namespace, "labels": labels},
        "spec": {
            "externalIdentityRef": {"name": identity},
            "serviceAccountId": binding.account_id,
            "ttl": ttl,
            "secret": {"name": binding.secret},
        },
    }


def register_accounts(phase: PhaseServer, sts: StsPeer, n: int, ttl: int) -> list[str]:
    """``n`` token-service accounts, each trusting moto's assumed-role principals."""
    ids: list[str] = []
    for _ in range(n):
        account = phase.add_service_account()
        phase.add_aws_identity(
            account,
            sts_endpoint=sts.endpoint,
            trusted_principals=[sts.trust_pattern()],
            default_ttl=ttl,
            max_ttl=MAX_TTL,
        )
        ids.append(account.id)
    return ids


def seed_set(
    cluster: Cluster,
    phase: PhaseServer,
    sts: StsPeer,
    *,
    label: str,
    prefix: str,
    run: str,
    n: int,
    ttl: int,
    identity: dict[str, Any] | None = None,
) -> BindingSet:
    """Create ``n`` bindings in up to :data:`NAMESPACES` namespaces ``{prefix}{label}-*``.

    ``identity`` (the body, or None to name ``{prefix}bench-aws`` without creating it) is
    created first and named by every binding.
    """
    namespaces = tuple(f"{prefix}{label}-{index}" for index in range(min(NAMESPACES, n)))
    identity_name = identity["metadata"]["name"] if identity else f"{prefix}bench-aws"
    bindings = tuple(
        Binding(namespaces[index % len(namespaces)], f"sab-{index:05d}", f"sab-{index:05d}-token",
                account)
        for index, account in enumerate(register_accounts(phase, sts, n, ttl))
    )
    labels = {RUN_LABEL: run, SET_LABEL: label}
    cluster.create(
        [
            *(namespace_body(namespace, run) for namespace in namespaces),
            *([identity] if identity else []),
            *(binding_body(binding, identity_name, ttl, labels) for binding in bindings),
        ]
    )
    return BindingSet(label, namespaces, bindings, identity_name)


def add_latecomer(
    cluster: Cluster, phase: PhaseServer, sts: StsPeer, bindings: BindingSet, *, run: str,
    ttl: int,
) -> Binding:
    """One more binding in ``bindings``' first namespace, created now (while others work)."""
    (account,) = register_accounts(phase, sts, 1, ttl)
    late = Binding(bindings.namespaces[0], "latecomer", "latecomer-token", account)
    labels = {RUN_LABEL: run, SET_LABEL: bindings.label}
    cluster.create([binding_body(late, bindings.identity, ttl, labels)])
    return late
