"""The AWS IAM exchange as Phase's server checks it, in PROTOCOL.md's order.

1. JSON and account (400)            6. signed URL / Host vs STS endpoint (400)
2. X-Amz-Date present, parseable     7. forward to STS; non-200 → 401; parse Arn
3. account exists (404), SSE (403)   8. ARN vs trusted patterns ('*' → 400, else 403)
4. AWS identity attached (404)       9. TTL (400)
5. signature freshness (401)

The forward in step 7 is a real HTTP call to the identity's STS endpoint (the
moto peer), carrying the client's signed method, headers and body unchanged.
"""

from __future__ import annotations

import base64
import binascii
import datetime as dt
import fnmatch
import json
import xml.etree.ElementTree as ElementTree
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlparse

import httpx

from .phase_model import AwsIamIdentity, PhaseConfig, ServiceAccount
from .phase_rules import Grant, Reject, check_account, granted_ttl, parse_payload, resolve_account

__all__ = ["authenticate_aws"]

_STS_NS = {"aws": "https://sts.amazonaws.com/doc/2011-06-15/"}
_MISMATCH = "STS endpoint mismatch. Please sign the request for the configured STS endpoint."


@dataclass(frozen=True)
class _Signed:
    method: str
    url: str
    headers: dict[str, str]
    body: str


def authenticate_aws(raw: bytes, config: PhaseConfig) -> Grant:
    payload = parse_payload(raw)
    account_id = check_account(payload)
    signed = _decode_signed_request(payload.get("awsIam"))
    signed_at = _signed_at(signed.headers)
    account = resolve_account(config, account_id)
    identity = _select_identity(account, signed.url)
    _check_freshness(signed_at, identity, config.now())
    endpoint = _check_endpoint(identity, signed)
    arn = _caller_arn(endpoint, signed, timeout=config.sts_timeout)
    _check_trusted(arn, identity.trusted_principals)
    ttl = granted_ttl(payload, identity)
    return Grant(account=account, identity=identity, principal=arn, ttl=ttl)


def normalized_host(uri: str | None) -> str | None:
    if not uri:
        return None
    if "://" not in uri:
        uri = f"https://{uri}"
    return urlparse(uri).netloc.lower()


def _b64(value: Any) -> str:
    if not isinstance(value, str):
        raise TypeError("expected a base64 string")
    return base64.b64decode(value, validate=True).decode("utf-8")


def _decode_signed_request(aws_iam: Any) -> _Signed:
    try:
        if not isinstance(aws_iam, dict):
            raise TypeError("awsIam is not an object")
        method = aws_iam.get("httpRequestMethod") or "POST"
        url = _b64(aws_iam["httpRequestUrl"])
        headers = json.loads(_b64(aws_iam["httpRequestHeaders"]))
        body = _b64(aws_iam.get("httpRequestBody") or "")
        if not isinstance(headers, dict) or not all(
            isinstance(k, str) and isinstance(v, str) for k, v in headers.items()
        ):
            raise TypeError("headers are not a JSON object of strings")
        if not isinstance(method, str):
            raise TypeError("httpRequestMethod is not a string")
    except (KeyError, TypeError, ValueError, binascii.Error) as error:
        raise Reject(400, "Invalid awsIam request encoding", reason=repr(error)) from error
    return _Signed(method, url, headers, body)


def _signed_at(headers: dict[str, str]) -> dt.datetime:
    amz_date = headers.get("X-Amz-Date") or headers.get("x-amz-date")
    if not amz_date:
        raise Reject(400, "Missing X-Amz-Date header")
    try:
        return dt.datetime.strptime(amz_date.replace("Z", ""), "%Y%m%dT%H%M%S").replace(
            tzinfo=dt.UTC
        )
    except ValueError as error:
        raise Reject(400, "Invalid X-Amz-Date", reason=f"X-Amz-Date={amz_date!r}") from error


def _select_identity(account: ServiceAccount, url: str) -> AwsIamIdentity:
    identities = [i for i in account.attached("aws-iam") if isinstance(i, AwsIamIdentity)]
    if not identities:
        raise Reject(404, "No AWS IAM identity attached to this account")
    request_host = normalized_host(url)
    return next(
        (i for i in identities if normalized_host(i.sts_endpoint) == request_host),
        identities[0],
    )


def _check_freshness(signed_at: dt.datetime, identity: AwsIamIdentity, now: float) -> None:
    skew = abs(now - signed_at.timestamp())
    if skew > identity.signature_expiry:
        raise Reject(
            401,
            "Signature expired",
            reason=f"signed {skew:.0f}s from server time; window {identity.signature_expiry}s",
        )


def _check_endpoint(identity: AwsIamIdentity, signed: _Signed) -> str:
    configured = identity.sts_endpoint
    if "://" not in configured:
        configured = f"https://{configured}"
    expected = normalized_host(configured)
    header_host = (signed.headers.get("Host") or signed.headers.get("host") or "").lower()
    if normalized_host(signed.url) != expected or (header_host and header_host != expected):
        raise Reject(
            400,
            _MISMATCH,
            reason=f"expected {expected}, URL {signed.url}, Host {header_host or '-'}",
            extra={"expectedEndpoint": configured, "receivedEndpoint": signed.url},
        )
    return configured


def _caller_arn(endpoint: str, signed: _Signed, *, timeout: float) -> str:
    try:
        response = httpx.request(
            signed.method,
            endpoint,
            headers=signed.headers,
            content=signed.body.encode(),
            timeout=timeout,
        )
    except httpx.TimeoutException as error:
        raise Reject(504, "AWS STS request timed out", reason=repr(error)) from error
    except httpx.ConnectError as error:
        raise Reject(502, "Unable to connect to AWS STS", reason=repr(error)) from error
    except httpx.HTTPError as error:
        raise Reject(502, "Failed to contact AWS STS", reason=repr(error)) from error
    if response.status_code != 200:
        raise Reject(
            401,
            "AWS STS validation failed",
            reason=response.text[:500],
            extra={"status": response.status_code},
        )
    try:
        root = ElementTree.fromstring(response.text)
        element = root.find(".//aws:GetCallerIdentityResult/aws:Arn", _STS_NS)
    except ElementTree.ParseError:
        element = None
    if element is None or not element.text:
        raise Reject(500, "Unable to parse AWS identity", reason=response.text[:500])
    return element.text.strip()


def _check_trusted(arn: str, patterns: list[str]) -> None:
    if any(p == "*" for p in patterns):
        raise Reject(400, "Invalid trusted principal pattern '*' is not allowed")
    if not any(p and fnmatch.fnmatch(arn, p) for p in patterns):
        raise Reject(403, "Untrusted principal", reason=f"{arn} matches none of {patterns}")
