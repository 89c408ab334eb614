"""HTTP side of the Entra peer: routing, the token endpoint's checks, Entra-style errors."""

from __future__ import annotations

import re
import secrets
import time
import uuid
from typing import TYPE_CHECKING, Any
from urllib.parse import parse_qs

import jwt

from ._http import JsonHandler
from .entra_model import JWT_BEARER, EntraClient, EntraRequest
from .entra_tokens import TokenVersion
from .oidc_keys import TokenProblem

if TYPE_CHECKING:
    from .entra_peer import EntraPeer

__all__ = ["EntraHandler"]


class _TokenError(Exception):
    def __init__(self, status: int, error: str, code: int, message: str) -> None:
        super().__init__(message)
        self.status, self.error, self.code, self.message = status, error, code, message


_TENANT = r"/(?P<tenant>[^/]+)"
_ROUTES: list[tuple[str, re.Pattern[str], str]] = [
    ("GET", re.compile(_TENANT + r"/v2\.0/\.well-known/openid-configuration"), "oidc2"),
    ("GET", re.compile(_TENANT + r"/\.well-known/openid-configuration"), "oidc1"),
    ("GET", re.compile(_TENANT + r"/discovery/v2\.0/keys"), "keys2"),
    ("GET", re.compile(_TENANT + r"/discovery/keys"), "keys1"),
    ("POST", re.compile(_TENANT + r"/oauth2/v2\.0/token"), "token2"),
    ("POST", re.compile(_TENANT + r"/oauth2/token"), "token1"),
]


class EntraHandler(JsonHandler):
    owner: EntraPeer

    def do_GET(self) -> None:
        self._dispatch("GET")

    def do_POST(self) -> None:
        self._dispatch("POST")

    def _dispatch(self, method: str) -> None:
        body = self.read_body()
        path = self.path.split("?", 1)[0]
        for route_method, pattern, name in _ROUTES:
            match = pattern.fullmatch(path)
            if match and route_method == method:
                self._route(name, match["tenant"], body, path)
                return
        self.owner.record(EntraRequest(method, path, 404, error="not_found"))
        self.send_bytes(404, b"Not Found", content_type="text/plain")

    def _route(self, name: str, tenant: str, body: bytes, path: str) -> None:
        peer = self.owner
        known = tenant in peer.tenant_ids or (name.startswith("keys") and tenant == "common")
        if not known:
            error = _TokenError(400, "invalid_tenant", 90002, f"Tenant '{tenant}' not found.")
            self._send_error(error, path, name.startswith("token"))
            return
        if name.startswith("oidc"):
            version: TokenVersion = "2.0" if name == "oidc2" else "1.0"
            peer.record(EntraRequest("GET", path, 200))
            self.send_json(200, peer.openid_configuration(tenant, version))
        elif name.startswith("keys"):
            peer.record(EntraRequest("GET", path, 200))
            self.send_json(200, peer.jwks("2.0" if name == "keys2" else "1.0", tenant))
        else:
            self._token(tenant, body, path, v1=name == "token1")

    def _token(self, tenant: str, body: bytes, path: str, *, v1: bool) -> None:
        peer = self.owner
        form = {k: v[0] for k, v in parse_qs(body.decode("utf-8", "replace")).items()}
        client_id = form.get("client_id")
        scope = form.get("resource") if v1 else form.get("scope")
        auth = (
            "assertion"
            if "client_assertion" in form
            else "secret"
            if "client_secret" in form
            else None
        )
        try:
            failure = peer.next_failure()
            if failure is not None:
                raise _TokenError(failure.status, failure.error, failure.code, failure.message)
            client = _authenticate(peer, form)
            resource = form.get("resource", "") if v1 else _resource_from_scope(form.get("scope"))
            token = peer.mint(
                resource=resource,
                client_id=client.client_id,
                tenant_id=tenant,
                client_auth="2" if auth == "assertion" else "1",
            )
        except _TokenError as error:
            peer.record(
                EntraRequest("POST", path, error.status, client_id, scope, auth, error.error)
            )
            self._send_error(error, path, True)
            return
        peer.record(EntraRequest("POST", path, 200, client_id, scope, auth))
        lifetime = peer.config.lifetime
        if v1:
            now = peer.now()
            payload: dict[str, Any] = {
                "token_type": "Bearer",
                "expires_in": str(lifetime),
                "ext_expires_in": str(lifetime),
                "expires_on": str(now + lifetime),
                "not_before": str(now - 300),
                "resource": resource,
                "access_token": token,
            }
        else:
            payload = {
                "token_type": "Bearer",
                "expires_in": lifetime,
                "ext_expires_in": lifetime,
                "access_token": token,
            }
        self.send_json(200, payload, headers={"Cache-Control": "no-store, no-cache"})

    def _send_error(self, error: _TokenError, path: str, record_done: bool) -> None:
        if not record_done:
            self.owner.record(EntraRequest(self.command, path, error.status, error=error.error))
        trace, correlation = str(uuid.uuid4()), str(uuid.uuid4())
        stamp = time.strftime("%Y-%m-%d %H:%M:%SZ", time.gmtime())
        self.send_json(
            error.status,
            {
                "error": error.error,
                "error_description": (
                    f"AADSTS{error.code}: {error.message} Trace ID: {trace} "
                    f"Correlation ID: {correlation} Timestamp: {stamp}"
                ),
                "error_codes": [error.code],
                "timestamp": stamp,
                "trace_id": trace,
                "correlation_id": correlation,
            },
        )


def _resource_from_scope(scope: str | None) -> str:
    scopes = (scope or "").split()
    if len(scopes) != 1 or not scopes[0].endswith("/.default"):
        raise _TokenError(
            400,
            "invalid_scope",
            1002012,
            f"The provided value for scope {scope} is not valid. Client credential flows "
            "must have a scope value with /.default suffixed to the resource identifier.",
        )
    # "https://management.azure.com//.default" names the resource "https://management.azure.com/".
    return scopes[0].removesuffix("/.default")


def _authenticate(peer: EntraPeer, form: dict[str, str]) -> EntraClient:
    if form.get("grant_type") != "client_credentials":
        raise _TokenError(
            400, "unsupported_grant_type", 70003, "The app requested an unsupported grant type."
        )
    client = peer.clients.get(form.get("client_id", ""))
    if client is None:
        raise _TokenError(
            400,
            "unauthorized_client",
            700016,
            f"Application with identifier '{form.get('client_id')}' was not found "
            "in the directory.",
        )
    if "client_assertion" in form:
        _check_assertion(peer, client, form)
    elif "client_secret" in form:
        if client.secret is None or not secrets.compare_digest(
            form["client_secret"], client.secret
        ):
            raise _TokenError(401, "invalid_client", 7000215, "Invalid client secret provided.")
    else:
        raise _TokenError(
            401,
            "invalid_client",
            7000218,
            "The request body must contain the following parameter: "
            "'client_assertion' or 'client_secret'.",
        )
    return client


def _check_assertion(peer: EntraPeer, client: EntraClient, form: dict[str, str]) -> None:
    if form.get("client_assertion_type") != JWT_BEARER:
        raise _TokenError(
            400, "invalid_request", 50027, "client_assertion_type must be jwt-bearer."
        )
    try:
        claims: dict[str, Any] = jwt.decode(
            form["client_assertion"], options={"verify_signature": False}
        )
    except jwt.PyJWTError as error:
        raise _TokenError(
            400, "invalid_client", 50027, f"JWT token is invalid or malformed ({error})."
        ) from error
    audiences = claims.get("aud")
    audiences = [audiences] if isinstance(audiences, str) else audiences or []
    issuer, subject = claims.get("iss"), claims.get("sub")
    no_match = _TokenError(
        400,
        "invalid_client",
        70021,
        "No matching federated identity record found for presented assertion. "
        f"Assertion Issuer: '{issuer}'. Assertion Subject: '{subject}'. "
        f"Assertion Audience: '{','.join(map(str, audiences))}'.",
    )
    if not _federated(peer, client, issuer, subject, audiences):
        raise no_match
    try:
        peer.issuer_keys.verify(form["client_assertion"])
    except TokenProblem as problem:
        if problem.kind == "expired":
            raise _TokenError(
                400, "invalid_client", 700024,
                "Client assertion is not within its valid time range.",
            ) from None
        raise _TokenError(
            400, "invalid_client", 700027,
            f"Client assertion failed signature validation. ({problem.message})",
        ) from None


def _federated(
    peer: EntraPeer, client: EntraClient, issuer: Any, subject: Any, audiences: list[Any]
) -> bool:
    """Whether one of the app's federated credentials accepts this issuer/subject/audience."""
    if client.federated is not None:
        return any(
            (record.issuer, record.subject) == (issuer, subject) and record.audience in audiences
            for record in client.federated
        )
    if not issuer or not subject or peer.config.assertion_audience not in audiences:
        return False
    return client.federated_subjects is None or subject in client.federated_subjects
