"""WSGI middleware: STS's checks of ``AssumeRoleWithWebIdentity``, which moto skips.

moto issues credentials for any token. Real STS first verifies the token against the IAM
OpenID Connect provider registered for its issuer, then evaluates the role's trust policy.
This middleware does the same, in order, answering with STS's own error documents:

1. the token is a JWT whose RS256 signature verifies against the issuer's keys (discovered
   from ``iss`` or registered) and has not expired — else 400 ``InvalidIdentityToken`` /
   ``ExpiredTokenException``;
2. an IAM OIDC provider exists for the issuer (``arn:aws:iam::ACCT:oidc-provider/HOST/PATH``)
   and lists one of the token's audiences as a client ID — else 400 ``InvalidIdentityToken``;
3. the role's trust policy has an Allow statement for ``sts:AssumeRoleWithWebIdentity`` whose
   ``Principal.Federated`` is that provider and whose ``StringEquals``/``StringLike`` conditions
   on ``HOST/PATH:sub`` and ``HOST/PATH:aud`` hold — else 403 ``AccessDenied``.

Only then does the request reach moto. Every attempt is logged in :attr:`WebIdentityCheck.calls`,
and the secret parts of the credentials moto issued in :attr:`WebIdentityCheck.issued_secrets`
(for tests that scan for leaks).
"""

from __future__ import annotations

import io
import json
import re
import threading
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from fnmatch import fnmatchcase
from typing import Any
from urllib.parse import parse_qs, urlsplit

from moto.iam.exceptions import NotFoundException
from moto.iam.models import iam_backends

from .oidc_keys import OidcKeys, TokenProblem, VerifiedToken
from .sts_faults import StartResponse, WsgiApp, _error

__all__ = ["WebIdentityCall", "WebIdentityCheck", "provider_path"]

ACTION = "AssumeRoleWithWebIdentity"
_SECRETS = re.compile(r"<(?:SecretAccessKey|SessionToken)>([^<]+)</")


def provider_path(issuer: str) -> str:
    """``https://oidc.eks.x/id/ABC`` → ``oidc.eks.x/id/ABC``, as IAM names the provider."""
    parts = urlsplit(issuer)
    return parts.netloc + parts.path.rstrip("/")


@dataclass(frozen=True)
class WebIdentityCall:
    role_arn: str
    session_name: str
    subject: str | None
    #: None when STS issued credentials; else the error code it answered.
    refused: str | None


class _Refusal(Exception):
    def __init__(self, status: int, code: str, message: str) -> None:
        super().__init__(message)
        self.status, self.code, self.message = status, code, message


@dataclass
class WebIdentityCheck:
    app: WsgiApp
    keys: OidcKeys = field(default_factory=OidcKeys)
    calls: list[WebIdentityCall] = field(default_factory=list)
    issued_secrets: list[str] = field(default_factory=list)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def __call__(self, environ: dict[str, Any], start_response: StartResponse) -> Iterable[bytes]:
        length = int(environ.get("CONTENT_LENGTH") or 0)
        body = environ["wsgi.input"].read(length) if length > 0 else b""
        environ["wsgi.input"] = io.BytesIO(body)
        form = {k: v[0] for k, v in parse_qs(body.decode("utf-8", "replace")).items()}
        if form.get("Action") != ACTION:
            return self.app(environ, start_response)
        role_arn, session = form.get("RoleArn", ""), form.get("RoleSessionName", "")
        subject = None
        try:
            token = self._verified(form.get("WebIdentityToken", ""))
            subject = token.subject
            self._check_trust(role_arn, token)
        except _Refusal as refusal:
            self._log(WebIdentityCall(role_arn, session, subject, refusal.code))
            return _error(start_response, refusal.status, refusal.code, refusal.message)
        self._log(WebIdentityCall(role_arn, session, subject, None))
        answer = b"".join(self.app(environ, start_response))
        with self._lock:
            self.issued_secrets += _SECRETS.findall(answer.decode("utf-8", "replace"))
        return [answer]

    def calls_for(self, subject: str) -> list[WebIdentityCall]:
        with self._lock:
            return [call for call in self.calls if call.subject == subject]

    def clear(self) -> None:
        with self._lock:
            self.calls.clear()
            self.issued_secrets.clear()

    def _log(self, call: WebIdentityCall) -> None:
        with self._lock:
            self.calls.append(call)

    def _verified(self, token: str) -> VerifiedToken:
        try:
            return self.keys.verify(token)
        except TokenProblem as problem:
            if problem.kind == "expired":
                raise _Refusal(400, "ExpiredTokenException", "Token expired: current date/time "
                               "must be before the expiration date/time.") from None
            if problem.kind == "keys":
                raise _Refusal(400, "InvalidIdentityToken", "Couldn't retrieve verification key "
                               "from your identity provider, please reference "
                               "AssumeRoleWithWebIdentity documentation for requirements") from None
            raise _Refusal(400, "InvalidIdentityToken", f"The web identity token that was passed "
                           f"could not be validated by AWS: {problem.message}") from None

    def _check_trust(self, role_arn: str, token: VerifiedToken) -> None:
        account = role_arn.split(":")[4] if role_arn.count(":") >= 5 else ""
        path = provider_path(token.issuer)
        provider_arn = f"arn:aws:iam::{account}:oidc-provider/{path}"
        iam = iam_backends[account]["aws"] if account.isdigit() else None
        provider = iam.open_id_providers.get(provider_arn) if iam is not None else None
        if iam is None or provider is None:
            raise _Refusal(400, "InvalidIdentityToken",
                           f"No OpenIDConnect provider found in your account for {token.issuer}")
        if not set(token.audiences) & set(provider.client_id_list):
            raise _Refusal(400, "InvalidIdentityToken", "Incorrect token audience")
        denied = _Refusal(403, "AccessDenied",
                          "Not authorized to perform sts:AssumeRoleWithWebIdentity")
        try:
            role = iam.get_role_by_arn(role_arn)
        except NotFoundException:  # STS does not say whether the role exists
            raise denied from None
        policy = json.loads(role.assume_role_policy_document)
        claims = {f"{path}:sub": token.subject, f"{path}:aud": token.audiences}
        if not any(_allows(statement, provider_arn, claims)
                   for statement in _statements(policy)):
            raise denied


def _statements(policy: Mapping[str, Any]) -> list[Mapping[str, Any]]:
    statements = policy.get("Statement") or []
    return [statements] if isinstance(statements, Mapping) else list(statements)


def _listed(value: Any) -> list[str]:
    return [value] if isinstance(value, str) else [str(item) for item in value or []]


def _allows(statement: Mapping[str, Any], provider_arn: str, claims: Mapping[str, Any]) -> bool:
    if statement.get("Effect") != "Allow":
        return False
    if "sts:AssumeRoleWithWebIdentity" not in _listed(statement.get("Action")):
        return False
    principal = statement.get("Principal") or {}
    if provider_arn not in _listed(principal.get("Federated") if isinstance(principal, Mapping)
                                   else None):
        return False
    conditions: Mapping[str, Mapping[str, Any]] = statement.get("Condition") or {}
    for operator, tests in conditions.items():
        match = {"StringEquals": str.__eq__, "StringLike": fnmatchcase}.get(operator)
        if match is None:
            return False  # an operator this peer does not evaluate never allows
        for key, wanted in tests.items():
            actual = claims.get(key)
            if actual is None:
                return False
            values = _listed(actual)
            if not any(match(value, pattern) for value in values for pattern in _listed(wanted)):
                return False
    return True
