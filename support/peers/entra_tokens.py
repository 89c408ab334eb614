"""Key material and JWT minting for the Entra peer. Pure: no I/O.

Claims follow real Entra app-only access tokens:

* v1 (``ver`` "1.0"): ``iss`` ``https://sts.windows.net/<tid>/``, ``appid``,
  ``appidacr``; keys at ``/<tid>/discovery/keys``.
* v2 (``ver`` "2.0"): ``iss`` ``https://login.microsoftonline.com/<tid>/v2.0``,
  ``azp``, ``azpacr``; keys at ``/<tid>/discovery/v2.0/keys``.

Both carry ``aud`` (the resource as requested), ``tid``, ``oid``, ``sub`` (= oid
for app tokens), ``idtyp`` "app", ``iat``/``nbf`` (backdated five minutes, as
Entra does) and ``exp``; the header carries ``kid`` and ``x5t``.
"""

from __future__ import annotations

import base64
import hashlib
import secrets
import uuid
from dataclasses import dataclass
from typing import Any, Literal

import jwt
from cryptography.hazmat.primitives.asymmetric import rsa
from jwt.algorithms import RSAAlgorithm

__all__ = [
    "FEDERATED_AUDIENCE",
    "AccessTokenSpec",
    "RsaKey",
    "TokenVersion",
    "issuer_for",
    "mint_access_token",
    "mint_federated_assertion",
]

TokenVersion = Literal["1.0", "2.0"]
FEDERATED_AUDIENCE = "api://AzureADTokenExchange"
_BACKDATE = 300


def issuer_for(version: TokenVersion, tenant_id: str) -> str:
    if version == "2.0":
        return f"https://login.microsoftonline.com/{tenant_id}/v2.0"
    return f"https://sts.windows.net/{tenant_id}/"


class RsaKey:
    """An RS256 signing key with a kid, exportable as a JWK."""

    def __init__(self, kid: str | None = None) -> None:
        self.private_key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        self.kid = kid or _thumbprint(self.private_key)

    def jwk(self, *, issuer: str | None = None) -> dict[str, Any]:
        jwk: dict[str, Any] = RSAAlgorithm.to_jwk(self.private_key.public_key(), as_dict=True)
        jwk.update({"use": "sig", "kid": self.kid, "x5t": self.kid})
        if issuer is not None:
            jwk["issuer"] = issuer
        return jwk

    def sign(self, claims: dict[str, Any], *, kid: str | None = None) -> str:
        kid = kid or self.kid
        return jwt.encode(
            claims,
            self.private_key,
            algorithm="RS256",
            headers={"typ": "JWT", "kid": kid, "x5t": kid},
        )


def _thumbprint(key: rsa.RSAPrivateKey) -> str:
    numbers = key.public_key().public_numbers()
    digest = hashlib.sha1(numbers.n.to_bytes(256, "big")).digest()
    return base64.urlsafe_b64encode(digest).rstrip(b"=").decode()


@dataclass(frozen=True)
class AccessTokenSpec:
    """Everything that decides the content of one access token."""

    tenant_id: str
    client_id: str
    oid: str
    audience: str
    version: TokenVersion = "1.0"
    issued_at: int = 0
    lifetime: int = 3599
    issuer: str | None = None
    #: 1 = client secret, 2 = certificate or federated assertion (Entra's acr values).
    client_auth: Literal["1", "2"] = "2"
    omit_claims: frozenset[str] = frozenset()
    claim_overrides: tuple[tuple[str, Any], ...] = ()

    def claims(self) -> dict[str, Any]:
        start = self.issued_at - _BACKDATE
        claims: dict[str, Any] = {
            "aud": self.audience,
            "iss": self.issuer or issuer_for(self.version, self.tenant_id),
            "iat": start,
            "nbf": start,
            "exp": self.issued_at + self.lifetime,
            "aio": secrets.token_urlsafe(24),
            "idtyp": "app",
            "oid": self.oid,
            "rh": "0.peer." + secrets.token_urlsafe(8),
            "sub": self.oid,
            "tid": self.tenant_id,
            "uti": secrets.token_urlsafe(16),
            "ver": self.version,
        }
        if self.version == "2.0":
            claims.update({"azp": self.client_id, "azpacr": self.client_auth})
        else:
            claims.update(
                {
                    "appid": self.client_id,
                    "appidacr": self.client_auth,
                    "idp": f"https://sts.windows.net/{self.tenant_id}/",
                }
            )
        claims.update(dict(self.claim_overrides))
        for name in self.omit_claims:
            claims.pop(name, None)
        return claims


def mint_access_token(spec: AccessTokenSpec, key: RsaKey, *, kid: str | None = None) -> str:
    return key.sign(spec.claims(), kid=kid)


def mint_federated_assertion(
    key: RsaKey,
    *,
    issued_at: int,
    subject: str = "system:serviceaccount:default:workload",
    issuer: str = "https://oidc.cluster.test",
    audience: str = FEDERATED_AUDIENCE,
    lifetime: int = 3600,
) -> str:
    """A token shaped like a projected Kubernetes service-account token."""
    namespace, _, name = subject.removeprefix("system:serviceaccount:").partition(":")
    return key.sign(
        {
            "aud": [audience],
            "iss": issuer,
            "sub": subject,
            "iat": issued_at,
            "nbf": issued_at,
            "exp": issued_at + lifetime,
            "jti": str(uuid.uuid4()),
            "kubernetes.io": {
                "namespace": namespace,
                "serviceaccount": {"name": name, "uid": str(uuid.uuid4())},
            },
        }
    )
