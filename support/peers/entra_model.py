"""Configuration and records of the Entra peer. No I/O."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Literal

from .entra_tokens import FEDERATED_AUDIENCE, TokenVersion

__all__ = [
    "DEFAULT_RESOURCE",
    "JWT_BEARER",
    "EntraClient",
    "EntraConfig",
    "EntraRequest",
    "FederatedCredential",
    "Signing",
    "TokenFailure",
]

DEFAULT_RESOURCE = "https://management.azure.com/"
JWT_BEARER = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer"
Signing = Literal["trusted", "forged", "unknown-kid"]


@dataclass(frozen=True)
class FederatedCredential:
    """A federated identity credential on an app: which tokens it accepts as assertions."""

    issuer: str
    subject: str
    audience: str = FEDERATED_AUDIENCE


@dataclass(frozen=True)
class EntraClient:
    """An app registration / managed identity: its client id and object id."""

    client_id: str
    oid: str
    secret: str | None = None
    #: Federated credential subjects accepted in assertions; ``None`` accepts any.
    federated_subjects: frozenset[str] | None = None
    #: Federated credentials (issuer, subject, audience); when set, an assertion must match
    #: one exactly, as Entra matches them, and ``federated_subjects`` is not consulted.
    federated: tuple[FederatedCredential, ...] | None = None


@dataclass(frozen=True)
class TokenFailure:
    status: int
    error: str
    code: int
    message: str


@dataclass
class EntraConfig:
    """What the next tokens look like. Tests mutate it; the fixture resets it."""

    token_version: TokenVersion = "1.0"
    #: "forged": signed by a key outside the JWKS under a published kid;
    #: "unknown-kid": signed by a key whose kid is not published at all.
    signing: Signing = "trusted"
    audience: str | None = None
    issuer: str | None = None
    omit_claims: frozenset[str] = frozenset()
    claim_overrides: dict[str, Any] = field(default_factory=dict)
    lifetime: int = 3599
    #: Issue tokens whose ``exp`` has already passed (``expires_in`` still says otherwise).
    expired: bool = False
    #: Seconds added to the peer's clock when stamping tokens.
    time_offset: float = 0.0
    assertion_audience: str = FEDERATED_AUDIENCE
    #: Fail the next token requests, first one first.
    failures: list[TokenFailure] = field(default_factory=list)

    def fail_next(
        self,
        count: int = 1,
        *,
        status: int = 500,
        error: str = "temporarily_unavailable",
        code: int = 50000,
        message: str = "There was an error issuing a token.",
    ) -> None:
        self.failures.extend([TokenFailure(status, error, code, message)] * count)


@dataclass(frozen=True)
class EntraRequest:
    method: str
    path: str
    status: int
    client_id: str | None = None
    scope: str | None = None
    #: "assertion", "secret" or None.
    auth_method: str | None = None
    error: str | None = None
