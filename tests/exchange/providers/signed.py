"""Read back the signed STS request inside an AWS proof, and send it where it points."""

from __future__ import annotations

import base64
import json
import re
from dataclasses import dataclass

import httpx

from external_identity.exchange.proofs import Proof

_SCOPE = re.compile(r"Credential=[^/]+/\d{8}/(?P<region>[^/]+)/(?P<service>[^/]+)/aws4_request")


def _text(value: str) -> str:
    return base64.b64decode(value, validate=True).decode()


@dataclass(frozen=True)
class SignedCall:
    method: str
    url: str
    headers: dict[str, str]
    body: str

    @classmethod
    def of(cls, proof: Proof) -> SignedCall:
        aws = proof.payload["awsIam"]
        return cls(
            method=aws["httpRequestMethod"],
            url=_text(aws["httpRequestUrl"]),
            headers=json.loads(_text(aws["httpRequestHeaders"])),
            body=_text(aws["httpRequestBody"]),
        )

    @property
    def signing_region(self) -> str:
        match = _SCOPE.search(self.headers["Authorization"])
        assert match is not None, self.headers["Authorization"]
        return match.group("region")

    def send(self) -> httpx.Response:
        """What the token service does with it: replay it, unchanged, to the STS endpoint."""
        return httpx.request(
            self.method, self.url, headers=self.headers, content=self.body.encode(), timeout=10
        )
