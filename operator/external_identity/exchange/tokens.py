"""Where the token service lives and what it issues. Pure data; no I/O."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from external_identity.api import defaults
from external_identity.api.times import rfc3339

__all__ = [
    "IssuedToken",
    "TokenServiceEndpoint",
]



@dataclass(frozen=True)
class IssuedToken:
    """A token the service issued, with the times the client measured."""

    token: str = field(repr=False)
    bearer_token: str = field(repr=False)
    token_type: str
    ttl: int
    max_ttl: int | None
    issued_at: datetime
    host: str
    #: The cloud principal our proof named, when the provider knows it.
    principal: str | None = None

    @property
    def expires_at(self) -> datetime:
        return self.issued_at + timedelta(seconds=self.ttl)

    def metadata(self) -> dict[str, Any]:
        """Everything but the secret values; safe to log or put in status."""
        return {
            "tokenType": self.token_type,
            "ttl": self.ttl,
            "maxTTL": self.max_ttl,
            "issuedAt": rfc3339(self.issued_at),
            "expiresAt": rfc3339(self.expires_at),
            "host": self.host,
            "principal": self.principal,
        }


@dataclass(frozen=True)
class TokenServiceEndpoint:
    """Where the token service lives.

    ``host`` is the console URL (``https://console.phase.dev``) with the default
    ``/service/public`` prefix, or the API host (``https://api.phase.dev``) with
    ``path_prefix=""``. A host that already ends in the prefix is accepted as is.
    """

    host: str = defaults.TOKEN_SERVICE_HOST
    path_prefix: str = defaults.CONSOLE_PATH_PREFIX

    def url_for(self, proof_path: str) -> str:
        base = self.host.rstrip("/")
        prefix = "/" + self.path_prefix.strip("/") if self.path_prefix.strip("/") else ""
        if prefix and base.endswith(prefix):
            prefix = ""
        return f"{base}{prefix}/identities/external/v1/{proof_path.lstrip('/')}"
