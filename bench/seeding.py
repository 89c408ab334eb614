"""One ExternalIdentity and N ServiceAccountBindings, written straight into the emulator's store.

Each binding gets its own token-service account (registered with the Phase peer, trusting
moto's principals), so every issued token maps back to one binding.
"""

from __future__ import annotations

from typing import Any

from support.kube.emulator import KubeEmulator
from support.kube.server import KubeAPI
from support.peers.phase_server import PhaseServer
from support.peers.sts_peer import StsPeer

from bench.model import GROUP_VERSION, Binding

IDENTITY = "bench-aws"
NAMESPACES = 10
MAX_TTL = 86400


def identity_body(phase: PhaseServer, sts: StsPeer, ttl: int) -> dict[str, Any]:
    return {
        "apiVersion": GROUP_VERSION,
        "kind": "ExternalIdentity",
        "metadata": {"name": IDENTITY},
        "spec": {
            "provider": "aws-iam",
            "tokenService": {"host": phase.base_url},
            "defaultTTL": ttl,
            "maxTTL": MAX_TTL,
            "aws": {"stsEndpoint": sts.endpoint},
        },
    }


def binding_body(binding: Binding, ttl: int) -> dict[str, Any]:
    return {
        "apiVersion": GROUP_VERSION,
        "kind": "ServiceAccountBinding",
        "metadata": {"name": binding.name, "namespace": binding.namespace},
        "spec": {
            "externalIdentityRef": {"name": IDENTITY},
            "serviceAccountId": binding.account_id,
            "ttl": ttl,
            "secret": {"name": binding.secret},
        },
    }


def seed(kube: KubeAPI, phase: PhaseServer, sts: StsPeer, n: int, ttl: int) -> list[Binding]:
    """Create the identity and ``n`` bindings spread over up to :data:`NAMESPACES` namespaces."""
    namespaces = [f"bench-{index}" for index in range(min(NAMESPACES, n))]
    for namespace in namespaces:
        kube.ensure_namespace(namespace)
    kube.create(identity_body(phase, sts, ttl))
    bindings: list[Binding] = []
    for index in range(n):
        account = phase.add_service_account()
        phase.add_aws_identity(
            account,
            sts_endpoint=sts.endpoint,
            trusted_principals=[sts.trust_pattern()],
            default_ttl=ttl,
            max_ttl=MAX_TTL,
        )
        name = f"sab-{index:05d}"
        bindings.append(
            Binding(namespaces[index % len(namespaces)], name, f"{name}-token", account.id)
        )
    bodies = [binding_body(binding, ttl) for binding in bindings]

    def create_all(emulator: KubeEmulator) -> None:
        for body in bodies:
            emulator.seed(body)

    kube.call(create_all, kube.emulator)
    return bindings
