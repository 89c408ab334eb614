"""Data held by the Phase-protocol peer: configuration, faults and records. No I/O.

Tests mutate ``PhaseConfig`` between calls (the request threads read it); the
records and the fault queue are guarded by one lock.
"""

from __future__ import annotations

import threading
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Literal

__all__ = [
    "AwsIamIdentity",
    "AzureEntraIdentity",
    "Fault",
    "FaultKind",
    "IssuedToken",
    "PhaseConfig",
    "Provider",
    "Records",
    "RequestRecord",
    "ServiceAccount",
]

Provider = Literal["aws-iam", "azure", "secrets"]
FaultKind = Literal["rate-limit", "status", "hang", "raw", "truncate", "disconnect"]


@dataclass
class AwsIamIdentity:
    """An AWS IAM external identity, as configured in the Phase console."""

    sts_endpoint: str
    trusted_principals: list[str]
    signature_expiry: int = 60
    default_ttl: int = 3600
    max_ttl: int = 86400
    #: Grant at most this many seconds even when more is requested (the server may).
    grant_at_most: int | None = None
    token_name: str = "aws-iam"
    provider: Literal["aws-iam"] = "aws-iam"


@dataclass
class AzureEntraIdentity:
    """An Azure external identity: tenant, resource (audience), allowed object ids."""

    tenant_id: str
    allowed_service_principals: list[str]
    resource: str = "https://management.azure.com/"
    default_ttl: int = 3600
    max_ttl: int = 86400
    grant_at_most: int | None = None
    token_name: str = "azure-entra"
    provider: Literal["azure"] = "azure"


Identity = AwsIamIdentity | AzureEntraIdentity


@dataclass
class ServiceAccount:
    id: str = field(default_factory=lambda: str(uuid.uuid4()))
    #: Server-side key management (SSE) — required for external identities.
    key_management: bool = True
    identities: list[Identity] = field(default_factory=list)

    def attached(self, provider: str) -> list[Identity]:
        return [identity for identity in self.identities if identity.provider == provider]


@dataclass
class Fault:
    """One injected misbehaviour, applied to the next ``remaining`` auth requests."""

    kind: FaultKind
    remaining: int
    status: int = 500
    body: bytes = b""
    content_type: str = "application/json"
    headers: dict[str, str] = field(default_factory=dict)
    #: For "hang": seconds to stall before answering normally.
    delay: float = 0.0
    #: Limit to one provider's endpoint; ``None`` hits both.
    provider: Provider | None = None


@dataclass
class PhaseConfig:
    service_accounts: dict[str, ServiceAccount] = field(default_factory=dict)
    #: Stands in for ``https://login.microsoftonline.com`` when fetching JWKS.
    login_base_url: str = "https://login.microsoftonline.com"
    #: CA bundle for the JWKS fetch (the Entra peer's throwaway CA).
    ca_bundle: str | None = None
    clock: Callable[[], float] = time.time
    #: Seconds added to the server's clock (simulates skew against the client).
    clock_offset: float = 0.0
    sts_timeout: float = 10.0
    #: Answer every request with 503 and an HTML body, like a load balancer would.
    unavailable: bool = False
    faults: list[Fault] = field(default_factory=list)

    def now(self) -> float:
        return self.clock() + self.clock_offset


@dataclass(frozen=True)
class IssuedToken:
    token: str
    bearer_token: str
    token_value: str
    provider: Provider
    #: The AWS caller ARN or the Azure ``oid`` the server authenticated.
    principal: str
    service_account_id: str
    token_name: str
    ttl: int
    max_ttl: int
    issued_at: float
    expires_at: float

    def valid_at(self, at: float) -> bool:
        return self.issued_at <= at < self.expires_at


@dataclass(frozen=True)
class RequestRecord:
    path: str
    method: str
    provider: Provider | None
    status: int
    #: When the answer was sent (or the client was found gone).
    received_at: float
    #: The ``error`` message sent, if any.
    error: str | None = None
    #: Why, in more words than the wire message (e.g. which JWT check failed).
    reason: str | None = None
    fault: FaultKind | None = None
    payload: Any = None
    headers: dict[str, str] = field(default_factory=dict)
    #: When the request arrived (before any injected hang); ``received_at`` if unknown.
    arrived_at: float | None = None


class Records:
    """Thread-safe log of requests answered and tokens issued, and how many exchange
    requests were in flight at once (arrived, not yet answered)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._requests: list[RequestRecord] = []
        self._tokens: list[IssuedToken] = []
        self._in_flight = 0
        self._peak_in_flight = 0

    def entered(self) -> None:
        with self._lock:
            self._in_flight += 1
            self._peak_in_flight = max(self._peak_in_flight, self._in_flight)

    def left(self) -> None:
        with self._lock:
            self._in_flight -= 1

    @property
    def peak_in_flight(self) -> int:
        """The most exchange requests in flight at once since the last :meth:`clear`."""
        with self._lock:
            return self._peak_in_flight

    def add_request(self, record: RequestRecord) -> None:
        with self._lock:
            self._requests.append(record)

    def add_token(self, token: IssuedToken) -> None:
        with self._lock:
            self._tokens.append(token)

    @property
    def requests(self) -> list[RequestRecord]:
        with self._lock:
            return list(self._requests)

    @property
    def tokens(self) -> list[IssuedToken]:
        with self._lock:
            return list(self._tokens)

    def statuses(self, provider: Provider | None = None) -> list[int]:
        return [r.status for r in self.requests if provider is None or r.provider == provider]

    def count(self, *, status: int | None = None, provider: Provider | None = None) -> int:
        return sum(
            1
            for r in self.requests
            if (status is None or r.status == status)
            and (provider is None or r.provider == provider)
        )

    def find_token(self, value: str) -> IssuedToken | None:
        """Look up by full ``pss_service:…`` token, ``ServiceAccount <hex>`` or bare hex."""
        value = value.strip().removeprefix("Bearer ").removeprefix("ServiceAccount ").strip()
        for token in self.tokens:
            if value in (token.token, token.token_value):
                return token
        return None

    def clear(self) -> None:
        with self._lock:
            self._requests.clear()
            self._tokens.clear()
            self._peak_in_flight = self._in_flight
