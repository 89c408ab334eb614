"""A token-service client aimed at the Phase peer, and a provider with a fixed proof.

The proof is a stand-in for a provider (not the code under test): the peer's
injected faults answer before it looks at the proof.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from datetime import UTC, datetime

import pytest
from support.peers.phase_server import PhaseServer

from external_identity.exchange.client import (
    TokenServiceClient,
    TokenServiceEndpoint,
    build_http_client,
)
from external_identity.exchange.proofs import AWS_IAM, Proof, ProviderName

PRINCIPAL = "arn:aws:sts::123456789012:assumed-role/phase-operator/operator-pod"
ACCOUNT_ID = "0f1a2b3c-4d5e-6789-abcd-ef0123456789"
#: The client's clock in these tests: HTTP dates in Retry-After are measured against it.
NOW = datetime(2031, 5, 6, 7, 8, 9, tzinfo=UTC)


@dataclass
class FixedProof:
    provider: ProviderName = AWS_IAM
    principal: str | None = PRINCIPAL

    async def proof(self) -> Proof:
        return Proof(
            provider=self.provider,
            path="aws/iam/auth/",
            payload={"awsIam": {"httpRequestMethod": "POST"}},
            principal=self.principal,
        )

    async def close(self) -> None:
        return None


ClientFactory = Callable[..., TokenServiceClient]


@pytest.fixture
async def make_client(phase_server: PhaseServer) -> AsyncIterator[ClientFactory]:
    """``make_client(host=..., max_response_bytes=...)``: clients sharing one HTTP pool."""
    async with build_http_client(timeout=5) as http:

        def make(host: str | None = None, **options: object) -> TokenServiceClient:
            endpoint = TokenServiceEndpoint(host=host or phase_server.base_url)
            options.setdefault("clock", lambda: NOW)
            return TokenServiceClient(endpoint, http=http, **options)  # type: ignore[arg-type]

        yield make


@pytest.fixture
def client(make_client: ClientFactory) -> TokenServiceClient:
    return make_client()
