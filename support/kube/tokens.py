"""Service account tokens for the emulator's TokenRequest (``serviceaccounts/NAME/token``).

RS256 JWTs shaped like the API server's: ``iss``, ``sub=system:serviceaccount:NS:NAME``, the
requested ``aud`` list, ``iat``/``nbf``/``exp`` and the ``kubernetes.io`` claim. One RSA key per
test process; :meth:`TokenSigner.jwks` gives its public half to peers that verify tokens.
"""

from __future__ import annotations

import base64
import functools
import hashlib
import time
import uuid
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import jwt
from cryptography.hazmat.primitives.asymmetric import rsa

__all__ = ["DEFAULT_ISSUER", "TokenSigner"]

DEFAULT_ISSUER = "https://kubernetes.default.svc.cluster.local"


@functools.cache
def _process_key() -> rsa.RSAPrivateKey:
    return rsa.generate_private_key(public_exponent=65537, key_size=2048)


def _b64(number: int) -> str:
    raw = number.to_bytes((number.bit_length() + 7) // 8, "big")
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()


@dataclass
class TokenSigner:
    issuer: str = DEFAULT_ISSUER
    key: rsa.RSAPrivateKey = field(default_factory=_process_key, repr=False)

    @property
    def key_id(self) -> str:
        numbers = self.key.public_key().public_numbers()
        return hashlib.sha256(_b64(numbers.n).encode()).hexdigest()[:16]

    def jwks(self) -> dict[str, Any]:
        numbers = self.key.public_key().public_numbers()
        return {
            "keys": [
                {
                    "kty": "RSA",
                    "alg": "RS256",
                    "use": "sig",
                    "kid": self.key_id,
                    "n": _b64(numbers.n),
                    "e": _b64(numbers.e),
                }
            ]
        }

    def sign(
        self,
        *,
        namespace: str,
        service_account: str,
        service_account_uid: str,
        audiences: Sequence[str],
        expiration_seconds: int,
        now: float | None = None,
    ) -> tuple[str, int]:
        """A token and its expiry (unix seconds)."""
        issued = int(now if now is not None else time.time())
        expires = issued + expiration_seconds
        claims = {
            "iss": self.issuer,
            "sub": f"system:serviceaccount:{namespace}:{service_account}",
            "aud": list(audiences),
            "iat": issued,
            "nbf": issued,
            "exp": expires,
            "jti": str(uuid.uuid4()),
            "kubernetes.io": {
                "namespace": namespace,
                "serviceaccount": {"name": service_account, "uid": service_account_uid},
            },
        }
        token = jwt.encode(claims, self.key, algorithm="RS256", headers={"kid": self.key_id})
        return token, expires
