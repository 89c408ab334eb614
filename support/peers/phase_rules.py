"""Checks shared by both providers of the Phase-protocol peer.

Each check either returns what the next one needs or raises ``Reject`` with
the status code and ``error`` message Phase's server uses (PROTOCOL.md; the
messages match the public server source word for word).
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

from .phase_model import AwsIamIdentity, AzureEntraIdentity, PhaseConfig, ServiceAccount

__all__ = ["Grant", "Reject", "check_account", "granted_ttl", "parse_payload", "resolve_account"]


class Reject(Exception):
    """A refusal: HTTP status, wire message, extra JSON fields, and a reason for tests."""

    def __init__(
        self,
        status: int,
        message: str,
        *,
        reason: str | None = None,
        extra: dict[str, Any] | None = None,
    ) -> None:
        super().__init__(message)
        self.status = status
        self.message = message
        self.reason = reason or message
        self.extra = extra or {}

    def body(self) -> dict[str, Any]:
        return {"error": self.message, **self.extra}


@dataclass(frozen=True)
class Grant:
    """A request that passed every check: who, for which account, for how long."""

    account: ServiceAccount
    identity: AwsIamIdentity | AzureEntraIdentity
    principal: str
    ttl: int
    extra: dict[str, Any] = field(default_factory=dict)


def parse_payload(raw: bytes) -> dict[str, Any]:
    try:
        payload = json.loads(raw)
    except (ValueError, UnicodeDecodeError) as error:
        raise Reject(400, "Invalid JSON", reason=f"body is not JSON: {error}") from error
    if not isinstance(payload, dict):
        raise Reject(400, "Invalid JSON", reason="body is not a JSON object")
    return payload


def check_account(payload: dict[str, Any]) -> str:
    """``account.type`` must be ``service`` and ``account.id`` present."""
    account = payload.get("account")
    account = account if isinstance(account, dict) else {}
    account_type = account.get("type")
    account_id = account.get("id")
    if (
        not isinstance(account_type, str)
        or account_type.lower() != "service"
        or not isinstance(account_id, str)
        or not account_id
    ):
        raise Reject(
            400,
            "Only service account authentication supported",
            reason=f"account={account!r}",
        )
    return account_id


def resolve_account(config: PhaseConfig, account_id: str) -> ServiceAccount:
    account = config.service_accounts.get(account_id)
    if account is None:
        raise Reject(404, "Service account not found")
    if not account.key_management:
        raise Reject(403, "Server-side key management must be enabled")
    return account


def granted_ttl(payload: dict[str, Any], identity: AwsIamIdentity | AzureEntraIdentity) -> int:
    """TTL rules: a positive integer no larger than the identity's max TTL.

    Like the real server, a missing, null or zero ``ttl`` means the default
    TTL. Stricter than it: only JSON integers are accepted (no strings/floats).
    """
    token_request = payload.get("tokenRequest")
    if token_request is None:
        token_request = {}
    if not isinstance(token_request, dict):
        raise Reject(400, "Invalid TTL value", reason="tokenRequest is not an object")
    raw = token_request.get("ttl")
    if raw is not None and (isinstance(raw, bool) or not isinstance(raw, int)):
        raise Reject(400, "Invalid TTL value", reason=f"ttl={raw!r}")
    requested = raw or identity.default_ttl
    if requested <= 0:
        raise Reject(400, "TTL must be a positive integer")
    if requested > identity.max_ttl:
        raise Reject(
            400,
            f"Requested TTL ({requested}s) exceeds maximum allowed TTL ({identity.max_ttl}s)",
        )
    if identity.grant_at_most is not None:
        return min(requested, identity.grant_at_most)
    return requested
