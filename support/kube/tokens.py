"""Service account tokens for the emulator's TokenRequest (``serviceaccounts/NAME/token``).

RS256 JWTs shaped like the API server's: ``iss``, ``sub=system:serviceaccount:NS:NAME``, the
requested ``aud`` list, ``iat``/``nbf``/``exp`` and the ``kubernetes.io`` claim. One RSA key per
test process; :meth:`TokenSigner.jwks` gives its public half to peers that verify tokens, and
:meth:`TokenSigner.openid_configuration` the discovery document the API server publishes at
``/.well-known/openid-configuration`` (keys at ``/openid/v1/jwks``). A served emulator uses its
own URL as the issuer, so a peer can discover the keys from a token's ``iss`` alone.
"""

from __future__ import annotations

import base64
import datetime
import functools
import hashlib
import time
import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import jwt
from cryptography.hazmat.primitives.asymmetric import rsa

from . import apimachinery as am

__all__ = ["DEFAULT_ISSUER", "DISCOVERY_PATH", "JWKS_PATH", "TokenSigner"]

DEFAULT_ISSUER = "https://kubernetes.default.svc.cluster.local"
DISCOVERY_PATH = "/.well-known/openid-configuration"
JWKS_PATH = "/openid/v1/jwks"


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
    #: Every token a TokenRequest returned, for tests that scan for leaked secrets.
    issued: list[str] = field(default_factory=list, repr=False)

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

    def openid_configuration(self) -> dict[str, Any]:
        """The API server's discovery document (``--service-account-jwks-uri`` unset)."""
        return {
            "issuer": self.issuer,
            "jwks_uri": self.issuer.rstrip("/") + JWKS_PATH,
            "response_types_supported": ["id_token"],
            "subject_types_supported": ["public"],
            "id_token_signing_alg_values_supported": ["RS256"],
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

    def token_request(
        self, namespace: str, account: Mapping[str, Any], body: Any
    ) -> dict[str, Any]:
        """Answer ``POST serviceaccounts/NAME/token`` for a stored ServiceAccount."""
        name = account["metadata"]["name"]
        spec = body.get("spec") if isinstance(body, Mapping) else None
        spec = spec if isinstance(spec, Mapping) else {}
        audiences = list(spec.get("audiences") or [self.issuer])
        expiration = int(spec.get("expirationSeconds") or 3600)
        if expiration < 600:
            raise am.invalid("TokenRequest", "authentication.k8s.io", name, [
                "spec.expirationSeconds: Invalid value: may not specify a duration less than "
                "10 minutes"
            ])
        token, expires = self.sign(
            namespace=namespace, service_account=name,
            service_account_uid=account["metadata"]["uid"], audiences=audiences,
            expiration_seconds=expiration,
        )
        self.issued.append(token)
        stamp = "%Y-%m-%dT%H:%M:%SZ"
        return {
            "apiVersion": "authentication.k8s.io/v1", "kind": "TokenRequest",
            "metadata": {"name": name, "namespace": namespace,
                         "creationTimestamp": datetime.datetime.now(datetime.UTC).strftime(stamp)},
            "spec": {"audiences": audiences, "expirationSeconds": expiration,
                     "boundObjectRef": spec.get("boundObjectRef")},
            "status": {"token": token, "expirationTimestamp": datetime.datetime.fromtimestamp(
                expires, datetime.UTC).strftime(stamp)},
        }
