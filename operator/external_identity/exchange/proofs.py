"""What a provider hands to the token service client: a ready request fragment.

Pure data; no I/O. Providers (``providers/``) build a :class:`Proof` from
cloud credentials; the client (``tokenservice``) posts it.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Literal, Protocol

__all__ = ["AWS_IAM", "AZURE", "Proof", "ProofProvider", "ProviderName"]

ProviderName = Literal["aws-iam", "azure"]
AWS_IAM: ProviderName = "aws-iam"
AZURE: ProviderName = "azure"


@dataclass(frozen=True)
class Proof:
    """A signed statement of who we are, ready to embed in the exchange request."""

    provider: ProviderName
    #: Path below ``identities/external/v1/``, e.g. ``aws/iam/auth/``.
    path: str
    #: The provider's part of the JSON body, e.g. ``{"awsIam": {...}}``.
    payload: Mapping[str, Any] = field(repr=False)
    #: Who the proof says we are (AWS caller ARN, Azure object ID), when known.
    principal: str | None = None


class ProofProvider(Protocol):
    """Builds a fresh proof for every exchange; owns any cached cloud credentials."""

    provider: ProviderName

    async def proof(self) -> Proof: ...

    async def close(self) -> None: ...
