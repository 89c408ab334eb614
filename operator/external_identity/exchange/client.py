"""Client for the token service's external-identity exchange (PROTOCOL.md).

Posts a provider's :class:`~external_identity.exchange.proofs.Proof`, reads the reply within a size
bound, and turns it into an :class:`IssuedToken` or an error from
:mod:`external_identity.errors`. What a reply means is decided by the pure
:mod:`external_identity.exchange.replies`; this module does the I/O and adds the times it measured.
"""

from __future__ import annotations

import ssl
from typing import Any

import httpx

from external_identity.api import defaults
from external_identity.api.times import Clock, utcnow
from external_identity.errors import (
    ConfigurationError,
    MalformedResponse,
    TokenServiceError,
    Unavailable,
)
from external_identity.exchange.proofs import ProofProvider
from external_identity.exchange.replies import classify, parse_authentication
from external_identity.exchange.tokens import (
    IssuedToken,
    TokenServiceEndpoint,
)

__all__ = [
    "DEFAULT_MAX_RESPONSE_BYTES",
    "IssuedToken",
    "TokenServiceClient",
    "TokenServiceEndpoint",
    "build_http_client",
]

DEFAULT_MAX_RESPONSE_BYTES = 64 * 1024


def build_http_client(
    *,
    ca_bundle: str | None = None,
    ca_bundle_pem: str | None = None,
    timeout: float = defaults.TOKEN_SERVICE_TIMEOUT,
) -> httpx.AsyncClient:
    """An HTTP client for the token service.

    ``ca_bundle`` (a PEM file path) or ``ca_bundle_pem`` (PEM text) adds a
    private CA to the system's trusted roots.
    """
    verify: ssl.SSLContext | bool = True
    if ca_bundle or ca_bundle_pem:
        context = ssl.create_default_context()
        try:
            context.load_verify_locations(cafile=ca_bundle, cadata=ca_bundle_pem)
        except (OSError, ssl.SSLError) as error:
            raise ConfigurationError(f"CA bundle is not usable PEM: {error}") from None
        verify = context
    return httpx.AsyncClient(
        verify=verify,
        timeout=httpx.Timeout(timeout),
        follow_redirects=False,
        headers={"User-Agent": "external-identity-operator"},
    )


class TokenServiceClient:
    """Exchanges provider proofs for service tokens. One per token-service host."""

    def __init__(
        self,
        endpoint: TokenServiceEndpoint,
        *,
        http: httpx.AsyncClient,
        max_response_bytes: int = DEFAULT_MAX_RESPONSE_BYTES,
        clock: Clock = utcnow,
    ) -> None:
        self.endpoint = endpoint
        self._http = http
        self._max_response_bytes = max_response_bytes
        self._clock = clock

    async def exchange(
        self,
        provider: ProofProvider,
        *,
        service_account_id: str,
        ttl: int | None = None,
    ) -> IssuedToken:
        """Sign a fresh proof, post it, and return the issued token.

        Every :class:`TokenServiceError` raised carries the proof's ``principal``.
        """
        proof = await provider.proof()
        body: dict[str, Any] = {
            "account": {"type": "service", "id": service_account_id},
            **proof.payload,
        }
        if ttl is not None:
            body["tokenRequest"] = {"ttl": ttl}
        url = self.endpoint.url_for(proof.path)
        issued_at = self._clock()
        try:
            status, headers, raw = await self._post(url, body)
            if status != 200:
                raise classify(status, headers, raw, now=self._clock())
            grant = parse_authentication(raw)
        except TokenServiceError as error:
            error.principal = proof.principal
            raise
        return IssuedToken(
            token=grant.token,
            bearer_token=grant.bearer_token,
            token_type=grant.token_type,
            ttl=grant.ttl,
            max_ttl=grant.max_ttl,
            issued_at=issued_at,
            host=self.endpoint.host,
            principal=proof.principal,
        )

    async def _post(self, url: str, body: dict[str, Any]) -> tuple[int, httpx.Headers, bytes]:
        try:
            async with self._http.stream("POST", url, json=body) as response:
                raw = await self._read_bounded(response)
                return response.status_code, response.headers, raw
        except httpx.TimeoutException as error:
            raise Unavailable(f"no answer from {url} in time ({type(error).__name__})") from None
        except httpx.ConnectError as error:
            raise Unavailable(f"cannot connect to {url}: {error}") from None
        except (httpx.RemoteProtocolError, httpx.ReadError) as error:
            raise Unavailable(f"connection to {url} broke mid-response: {error}") from None
        except httpx.TransportError as error:
            raise Unavailable(f"request to {url} failed: {type(error).__name__}: {error}") from None

    async def _read_bounded(self, response: httpx.Response) -> bytes:
        chunks: list[bytes] = []
        room = self._max_response_bytes
        async for chunk in response.aiter_bytes():
            if len(chunk) > room:
                if response.status_code != 200:
                    chunks.append(chunk[:room])  # an error page: its start is enough
                    break
                raise MalformedResponse(
                    f"response larger than {self._max_response_bytes} bytes; refused to read it",
                    status=response.status_code,
                )
            chunks.append(chunk)
            room -= len(chunk)
        return b"".join(chunks)

