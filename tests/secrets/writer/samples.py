"""Sample tokens for the secret writer tests: token-shaped, so any leak is unmistakable."""

from __future__ import annotations

import base64
from datetime import UTC, datetime
from typing import Any

from external_identity.exchange.tokens import IssuedToken
from external_identity.secrets.data import SecretTarget

NAMESPACE = "payments"
SECRETS = "v1/secrets"
TOKEN = "pss_service:v2:3f9c2b7e0d0a4c1e9b5a6d7c8e9f0a1b:feedfacecafebeef0123456789abcdef"
BEARER = "ServiceAccount 3f9c2b7e0d0a4c1e9b5a6d7c8e9f0a1b:feedfacecafebeef0123456789abcdef"
ISSUED_AT = datetime(2030, 1, 2, 3, 0, 5, 123456, tzinfo=UTC)


def issued(token: str = TOKEN, *, ttl: int = 3600, bearer: str = BEARER) -> IssuedToken:
    return IssuedToken(
        token=token,
        bearer_token=bearer,
        token_type="Service",
        ttl=ttl,
        max_ttl=86400,
        issued_at=ISSUED_AT,
        host="https://console.phase.dev",
    )


def b64(text: str) -> str:
    return base64.b64encode(text.encode()).decode()


def owner_reference(target: SecretTarget) -> dict[str, Any]:
    """The controller owner reference a binding's Secret carries (as JSON)."""
    assert target.owner is not None
    return {"apiVersion": target.owner.api_version, "kind": target.owner.kind,
            "name": target.owner.name, "uid": target.owner.uid, "controller": True}
