"""Verify a Kubernetes service-account token the way STS and Entra verify a web identity.

A token's ``iss`` names its issuer. Keys come from a static JWKS registered for that issuer
(a test's own signer) or from OpenID discovery over HTTP — ``{iss}/.well-known/openid-
configuration``, then its ``jwks_uri`` — exactly as the cloud services fetch an EKS or AKS
cluster's keys. Fetched key sets are cached per issuer. :meth:`OidcKeys.verify` checks the
RS256 signature, ``exp``/``nbf`` and that ``sub`` is present; callers check audience and trust.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass
from typing import Any

import httpx
import jwt

__all__ = ["OidcKeys", "TokenProblem", "VerifiedToken"]

DISCOVERY = "/.well-known/openid-configuration"


class TokenProblem(Exception):
    """Why a token is refused: ``kind`` is malformed, issuer, keys, signature or expired."""

    def __init__(self, kind: str, message: str) -> None:
        super().__init__(message)
        self.kind = kind
        self.message = message


@dataclass(frozen=True)
class VerifiedToken:
    issuer: str
    subject: str
    audiences: tuple[str, ...]
    expires: int


class OidcKeys:
    """Issuers' signing keys, registered or discovered. Thread-safe."""

    def __init__(self, *, timeout: float = 5.0) -> None:
        self._static: dict[str, dict[str, Any]] = {}
        self._fetched: dict[str, dict[str, Any]] = {}
        self._lock = threading.Lock()
        self._timeout = timeout

    def register(self, issuer: str, jwks: dict[str, Any]) -> None:
        """Trust ``jwks`` as ``issuer``'s keys without discovery."""
        with self._lock:
            self._static[issuer] = jwks

    def forget_fetched(self) -> None:
        with self._lock:
            self._fetched.clear()

    @staticmethod
    def unverified_issuer(token: str) -> str:
        try:
            claims = jwt.decode(token, options={"verify_signature": False})
        except jwt.PyJWTError as error:
            raise TokenProblem("malformed", f"the token is not a JWT ({error})") from None
        issuer = claims.get("iss")
        if not isinstance(issuer, str) or not issuer:
            raise TokenProblem("malformed", "the token has no iss claim")
        return issuer

    def verify(self, token: str) -> VerifiedToken:
        issuer = self.unverified_issuer(token)
        keys = self._keys(issuer)
        try:
            header = jwt.get_unverified_header(token)
        except jwt.PyJWTError as error:
            raise TokenProblem("malformed", f"the token header is unreadable ({error})") from None
        if header.get("alg") != "RS256":
            raise TokenProblem("signature", f"unsupported signing algorithm {header.get('alg')}")
        matching = [key for key in keys.get("keys", []) if key.get("kid") == header.get("kid")]
        if not matching:
            raise TokenProblem("keys", f"no key with kid {header.get('kid')} at the issuer")
        try:
            claims: dict[str, Any] = jwt.decode(
                token,
                jwt.PyJWK.from_dict(matching[0]).key,
                algorithms=["RS256"],
                options={"verify_aud": False, "require": ["exp", "iss", "sub"]},
                issuer=issuer,
            )
        except jwt.ExpiredSignatureError:
            raise TokenProblem("expired", "the token has expired") from None
        except jwt.InvalidSignatureError:
            raise TokenProblem("signature", "the token's signature does not verify") from None
        except jwt.PyJWTError as error:
            raise TokenProblem("malformed", f"the token is invalid ({error})") from None
        audiences = claims.get("aud")
        audiences = [audiences] if isinstance(audiences, str) else list(audiences or [])
        return VerifiedToken(
            issuer=issuer, subject=str(claims["sub"]), audiences=tuple(map(str, audiences)),
            expires=int(claims["exp"]),
        )

    def _keys(self, issuer: str) -> dict[str, Any]:
        with self._lock:
            known = self._static.get(issuer) or self._fetched.get(issuer)
        if known is not None:
            return known
        fetched = self._discover(issuer)
        with self._lock:
            self._fetched[issuer] = fetched
        return fetched

    def _discover(self, issuer: str) -> dict[str, Any]:
        try:
            document = httpx.get(issuer.rstrip("/") + DISCOVERY, timeout=self._timeout)
            document.raise_for_status()
            configuration = document.json()
            if configuration.get("issuer") != issuer:
                raise TokenProblem("issuer", f"the discovery document at {issuer} names another "
                                             "issuer")
            keys = httpx.get(str(configuration["jwks_uri"]), timeout=self._timeout)
            keys.raise_for_status()
            jwks: dict[str, Any] = keys.json()
        except (httpx.HTTPError, ValueError, KeyError) as error:
            raise TokenProblem(
                "keys", f"could not retrieve the verification keys of {issuer} ({error})"
            ) from None
        return jwks
