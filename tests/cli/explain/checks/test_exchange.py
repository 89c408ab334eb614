"""explain's exchange check, called directly: one real exchange (the Phase and STS peers) for the
binding's service account, and for each refusal the fix that names what to change."""

from __future__ import annotations

import uuid
from typing import Any

import pytest
from support.peers.helpers import aws_account
from support.peers.phase_server import PhaseServer
from support.peers.sts_peer import StsPeer

from external_identity.api.specs import parse_binding, parse_identity
from external_identity.cli.explain.checks import check_exchange
from external_identity.cli.explain.inputs import Subject
from external_identity.cli.explain.state import Context, Finding
from external_identity.errors import EndpointMismatch, NotFound, TTLTooLong

pytestmark = pytest.mark.usefixtures("loopback_only")


async def exchanged(phase: PhaseServer, sts: StsPeer, account_id: str,
                    **binding: Any) -> tuple[Finding, Context]:
    identity = {"provider": "aws-iam", "tokenService": {"host": phase.base_url},
                "aws": {"stsEndpoint": sts.endpoint}}
    spec = {"externalIdentityRef": {"name": "prod"}, "serviceAccountId": account_id,
            "secret": {"name": "token"}, **binding}
    ctx = Context(Subject(identity={"metadata": {"name": "prod"}, "spec": identity},
                          binding={"metadata": {"name": "api"}, "spec": spec},
                          namespace="payments", origin="files"), exchange=True)
    ctx.identity, ctx.binding = parse_identity(identity), parse_binding(spec)
    try:
        return await check_exchange(ctx), ctx
    finally:
        await ctx.close()


async def test_a_token_is_issued_and_kept_for_the_caller_to_print(
    phase_server: PhaseServer, sts_peer: StsPeer, aws_env: dict[str, str]
) -> None:
    account, _ = aws_account(phase_server, sts_peer)
    finding, ctx = await exchanged(phase_server, sts_peer, account.id, ttl=600)
    assert finding.verdict == "ok"
    assert finding.seen.startswith(f"token issued for service account {account.id}: "
                                   "TTL 600s (asked 600s), expires ")
    assert finding.seen.endswith(f"principal {sts_peer.assumed_role_arn}")
    assert ctx.issued is not None
    assert phase_server.records.find_token(ctx.issued.token) is not None
    assert ctx.issued.token not in finding.seen


async def test_without_a_ttl_the_identitys_default_is_asked_for(
    phase_server: PhaseServer, sts_peer: StsPeer, aws_env: dict[str, str]
) -> None:
    account, _ = aws_account(phase_server, sts_peer)
    finding, _ = await exchanged(phase_server, sts_peer, account.id)
    assert "(asked 3600s)" in finding.seen


async def test_an_unknown_service_account_points_at_the_binding_and_phase(
    phase_server: PhaseServer, sts_peer: StsPeer, aws_env: dict[str, str]
) -> None:
    finding, _ = await exchanged(phase_server, sts_peer, str(uuid.uuid4()))
    assert finding.verdict == "failed"
    assert isinstance(finding.error, NotFound)
    assert finding.fix.startswith("check spec.serviceAccountId and that the external identity")


async def test_a_ttl_above_the_phase_maximum_says_to_lower_it(
    phase_server: PhaseServer, sts_peer: StsPeer, aws_env: dict[str, str]
) -> None:
    account, _ = aws_account(phase_server, sts_peer, max_ttl=3600)
    finding, _ = await exchanged(phase_server, sts_peer, account.id, ttl=7200)
    assert isinstance(finding.error, TTLTooLong)
    assert finding.fix.startswith("lower spec.ttl (or the identity's defaultTTL)")


async def test_another_sts_endpoint_in_phase_says_which_to_set(
    phase_server: PhaseServer, sts_peer: StsPeer, aws_env: dict[str, str]
) -> None:
    account, _ = aws_account(phase_server, sts_peer)
    account.identities[0].sts_endpoint = "http://localhost:" + sts_peer.endpoint.rsplit(":", 1)[1]
    finding, _ = await exchanged(phase_server, sts_peer, account.id)
    assert isinstance(finding.error, EndpointMismatch)
    assert finding.fix == "set spec.aws.stsEndpoint to the Phase identity's STS endpoint"
