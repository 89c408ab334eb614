"""The Azure (Entra) exchange as Phase's server checks it.

1. JSON and account (400); ``azureEntra.jwt`` present (400) and base64 (400)
2. account exists (404), SSE (403); an Azure identity attached (404); with
   several, the JWT's unverified ``tid`` picks one (none → 404)
3. the JWT, verified (any failure → 401 "Azure JWT validation failed"): tenant
   id is a UUID; ``ver`` picks keys and issuer (v1: ``/discovery/keys``,
   ``https://sts.windows.net/<tid>/``; v2: ``/discovery/v2.0/keys``,
   ``https://login.microsoftonline.com/<tid>/v2.0``); RS256 against the JWKS
   fetched over HTTPS; audience = resource with or without trailing slash;
   ``exp iss aud oid tid`` required; ``tid`` equals the identity's tenant
4. ``oid`` in the allowed service principals ('*' → 400, else 403)
5. TTL (400)

The JWKS is fetched from ``config.login_base_url`` (the Entra peer) in place of
``https://login.microsoftonline.com``, on every request (no cache), and time
checks use the server clock (``config.now()``) so clock offsets apply.
"""

from __future__ import annotations

import base64
import binascii
import re
import ssl
from typing import Any
from urllib.parse import urlparse, urlunparse

import jwt
from jwt import PyJWKClient

from .phase_model import AzureEntraIdentity, PhaseConfig, ServiceAccount
from .phase_rules import Grant, Reject, check_account, granted_ttl, parse_payload, resolve_account

__all__ = ["authenticate_azure"]

_UUID = re.compile(r"^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$", re.I)
_REQUIRED = ["exp", "iss", "aud", "oid", "tid"]


def authenticate_azure(raw: bytes, config: PhaseConfig) -> Grant:
    payload = parse_payload(raw)
    account_id = check_account(payload)
    token = _decode_jwt_field(payload.get("azureEntra"))
    account = resolve_account(config, account_id)
    identity = _select_identity(account, token)
    claims = _validated_claims(token, identity, config)
    oid = claims.get("oid")
    if not oid:
        raise Reject(401, "Missing oid claim in token")
    _check_allowed(str(oid), identity.allowed_service_principals)
    ttl = granted_ttl(payload, identity)
    return Grant(account=account, identity=identity, principal=str(oid), ttl=ttl, extra=claims)


def _decode_jwt_field(azure_entra: Any) -> str:
    encoded = azure_entra.get("jwt") if isinstance(azure_entra, dict) else None
    if not encoded:
        raise Reject(400, "Missing azureEntra.jwt")
    try:
        if not isinstance(encoded, str):
            raise TypeError("jwt is not a string")
        return base64.b64decode(encoded, validate=True).decode("utf-8")
    except (TypeError, ValueError, binascii.Error) as error:
        raise Reject(400, "Invalid JWT encoding", reason=repr(error)) from error


def _select_identity(account: ServiceAccount, token: str) -> AzureEntraIdentity:
    identities = [i for i in account.attached("azure") if isinstance(i, AzureEntraIdentity)]
    if not identities:
        raise Reject(404, "No Azure identity attached to this account")
    if len(identities) == 1:
        return identities[0]
    try:
        tid = jwt.decode(token, options={"verify_signature": False}).get("tid")
    except jwt.PyJWTError as error:
        raise Reject(400, "Malformed JWT", reason=repr(error)) from error
    for identity in identities:
        if identity.tenant_id == tid:
            return identity
    raise Reject(404, "No matching Azure identity for this tenant", reason=f"tid={tid!r}")


def _validated_claims(
    token: str, identity: AzureEntraIdentity, config: PhaseConfig
) -> dict[str, Any]:
    try:
        return _verify(token, identity, config)
    except Exception as error:
        raise Reject(401, "Azure JWT validation failed", reason=repr(error)) from error


def _verify(token: str, identity: AzureEntraIdentity, config: PhaseConfig) -> dict[str, Any]:
    tenant_id = identity.tenant_id
    if not _UUID.match(tenant_id):
        raise ValueError("Invalid tenant ID format")
    try:
        version = jwt.decode(token, options={"verify_signature": False}).get("ver", "1.0")
    except jwt.PyJWTError as error:
        raise ValueError("Malformed JWT") from error
    base = config.login_base_url.rstrip("/")
    if version == "2.0":
        jwks_uri = f"{base}/{tenant_id}/discovery/v2.0/keys"
        issuer = f"https://login.microsoftonline.com/{tenant_id}/v2.0"
    else:
        jwks_uri = f"{base}/{tenant_id}/discovery/keys"
        issuer = f"https://sts.windows.net/{tenant_id}/"
    context = ssl.create_default_context(cafile=config.ca_bundle) if config.ca_bundle else None
    keys = PyJWKClient(jwks_uri, cache_jwk_set=False, timeout=10, ssl_context=context)
    signing_key = keys.get_signing_key_from_jwt(token)
    parsed = urlparse(identity.resource)
    normalized = urlunparse(parsed._replace(path=parsed.path.rstrip("/")))
    claims: dict[str, Any] = jwt.decode(
        token,
        signing_key.key,
        algorithms=["RS256"],
        audience=[normalized, normalized + "/"],
        issuer=issuer,
        options={
            "require": _REQUIRED,
            "verify_exp": False,
            "verify_nbf": False,
            "verify_iat": False,
        },
    )
    _check_times(claims, config.now())
    if claims.get("tid") != tenant_id:
        raise ValueError("Tenant ID mismatch")
    return claims


def _check_times(claims: dict[str, Any], now: float) -> None:
    """PyJWT's own exp/nbf/iat rules, but against the server's (offset) clock."""
    for name in ("exp", "nbf", "iat"):
        if name in claims and not isinstance(claims[name], int | float):
            raise jwt.DecodeError(f"{name} must be a number")
    if claims["exp"] <= now:
        raise jwt.ExpiredSignatureError("Signature has expired")
    if "nbf" in claims and claims["nbf"] > now:
        raise jwt.ImmatureSignatureError("The token is not yet valid (nbf)")
    if "iat" in claims and claims["iat"] > now:
        raise jwt.ImmatureSignatureError("The token is not yet valid (iat)")


def _check_allowed(oid: str, allowed: list[str]) -> None:
    if any(p == "*" for p in allowed):
        raise Reject(400, "Invalid trusted principal pattern '*' is not allowed")
    if oid not in allowed:
        raise Reject(403, "Untrusted service principal", reason=f"oid {oid} not in {allowed}")
