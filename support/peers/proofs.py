"""A reference client for both exchanges: build the proof and the request body.

Pure steps, no I/O: the self-tests use these to drive the Phase peer the way
PROTOCOL.md describes, and tests can tamper with the result before sending.
"""

from __future__ import annotations

import base64
import datetime as dt
import json
from dataclasses import dataclass, replace
from typing import Any
from unittest import mock
from urllib.parse import urlsplit

from botocore.auth import SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.credentials import Credentials

__all__ = [
    "GET_CALLER_IDENTITY_BODY",
    "SignedRequest",
    "aws_iam_payload",
    "azure_entra_payload",
    "sign_get_caller_identity",
]

GET_CALLER_IDENTITY_BODY = "Action=GetCallerIdentity&Version=2011-06-15"


@dataclass(frozen=True)
class SignedRequest:
    method: str
    url: str
    headers: dict[str, str]
    body: str

    def with_headers(self, **changes: str) -> SignedRequest:
        """A copy with headers replaced; names use ``_`` for ``-`` (X_Amz_Date)."""
        headers = dict(self.headers)
        for name, value in changes.items():
            headers[name.replace("_", "-")] = value
        return replace(self, headers=headers)


def sign_get_caller_identity(
    credentials: Credentials,
    *,
    endpoint: str,
    region: str = "us-east-1",
    at: dt.datetime | None = None,
) -> SignedRequest:
    """SigV4-sign ``POST {endpoint}/`` GetCallerIdentity, optionally at a given time."""
    url = endpoint.rstrip("/") + "/"
    request = AWSRequest(
        method="POST",
        url=url,
        data=GET_CALLER_IDENTITY_BODY,
        headers={
            "Content-Type": "application/x-www-form-urlencoded; charset=utf-8",
            "Host": urlsplit(url).netloc,
        },
    )
    signer = SigV4Auth(credentials, "sts", region)
    if at is None:
        signer.add_auth(request)
    else:
        # botocore reads the signing time from this function; pin it for skew tests.
        pinned = at.astimezone(dt.UTC).replace(tzinfo=None)
        with mock.patch("botocore.auth.get_current_datetime", return_value=pinned):
            signer.add_auth(request)
    return SignedRequest("POST", url, dict(request.headers.items()), GET_CALLER_IDENTITY_BODY)


def _b64(text: str) -> str:
    return base64.b64encode(text.encode()).decode()


def aws_iam_payload(
    signed: SignedRequest, *, account_id: str, ttl: int | None = None
) -> dict[str, Any]:
    """The JSON body of ``POST …/aws/iam/auth/`` for one signed request."""
    payload: dict[str, Any] = {
        "account": {"type": "service", "id": account_id},
        "awsIam": {
            "httpRequestMethod": signed.method,
            "httpRequestUrl": _b64(signed.url),
            "httpRequestHeaders": _b64(json.dumps(signed.headers)),
            "httpRequestBody": _b64(signed.body),
        },
    }
    if ttl is not None:
        payload["tokenRequest"] = {"ttl": ttl}
    return payload


def azure_entra_payload(
    access_token: str, *, account_id: str, ttl: int | None = None
) -> dict[str, Any]:
    """The JSON body of ``POST …/azure/entra/auth/`` for one Entra access token."""
    payload: dict[str, Any] = {
        "account": {"type": "service", "id": account_id},
        "azureEntra": {"jwt": _b64(access_token)},
    }
    if ttl is not None:
        payload["tokenRequest"] = {"ttl": ttl}
    return payload
