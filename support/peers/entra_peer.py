"""A local Entra ID token endpoint over HTTPS (throwaway CA from ``trustme``).

Serves what azure-identity and a token service call:

* ``GET  /<tenant>/v2.0/.well-known/openid-configuration`` (MSAL tenant discovery)
* ``GET  /<tenant>/.well-known/openid-configuration`` (v1)
* ``POST /<tenant>/oauth2/v2.0/token``: client credentials with ``client_assertion``
  (workload identity) or ``client_secret``; ``scope=<resource>/.default``
* ``POST /<tenant>/oauth2/token``: the v1 form with ``resource=``
* ``GET  /<tenant>/discovery/keys`` and ``/<tenant>/discovery/v2.0/keys`` (JWKS)

Client assertions are verified as Entra verifies them: the RS256 signature against the
issuer's keys (the peer's own cluster issuer, or any issuer's keys discovered from its URL —
:mod:`.oidc_keys`), expiry, and a match with the app's federated credentials.

``EntraConfig`` (reset per test) steers what is issued: token version, a
forged signature or unknown kid, audience/issuer overrides, omitted or replaced
claims, expired tokens, failures of the next token requests.
"""

from __future__ import annotations

import secrets
import ssl
import threading
import time
import uuid
from pathlib import Path
from typing import Any, Literal

import trustme

from ._http import LoopbackServer
from .entra_endpoints import EntraHandler
from .entra_model import (
    DEFAULT_RESOURCE,
    JWT_BEARER,
    EntraClient,
    EntraConfig,
    EntraRequest,
    FederatedCredential,
    TokenFailure,
)
from .entra_tokens import (
    AccessTokenSpec,
    RsaKey,
    TokenVersion,
    issuer_for,
    mint_access_token,
    mint_federated_assertion,
)
from .oidc_keys import OidcKeys

__all__ = [
    "DEFAULT_RESOURCE",
    "JWT_BEARER",
    "EntraClient",
    "EntraConfig",
    "EntraPeer",
    "EntraRequest",
    "FederatedCredential",
]

#: The issuer of :meth:`EntraPeer.federated_assertion` tokens (static keys, never fetched).
CLUSTER_ISSUER = "https://oidc.cluster.test"


class EntraPeer:
    """The running endpoint; ``authority_host`` is what AZURE_AUTHORITY_HOST takes."""

    def __init__(self, *, ca: trustme.CA, workdir: Path) -> None:
        self._ca = ca
        self._lock = threading.Lock()
        self.workdir = workdir
        self.token_dir = workdir
        self.ca_bundle_path = workdir / "entra-peer-ca.pem"
        ca.cert_pem.write_to_path(str(self.ca_bundle_path))
        self.signing_key = RsaKey()
        self.forged_key = RsaKey()
        self.cluster_key = RsaKey()
        #: Keys of the issuers whose assertions this tenant can verify.
        self.issuer_keys = OidcKeys()
        self.issuer_keys.register(CLUSTER_ISSUER, {"keys": [self.cluster_key.jwk()]})
        self.tenant_id = str(uuid.uuid4())
        self.default_client = EntraClient(
            client_id=str(uuid.uuid4()), oid=str(uuid.uuid4()), secret=secrets.token_urlsafe(30)
        )
        self.config = EntraConfig()
        self.clients: dict[str, EntraClient] = {}
        self.tenant_ids: set[str] = set()
        self.requests: list[EntraRequest] = []
        #: Every access token minted, for tests that scan for leaked secrets.
        self.minted: list[str] = []
        self.reset()
        cert = ca.issue_cert("127.0.0.1", "localhost")
        context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        cert.configure_cert(context)
        self._server = LoopbackServer(EntraHandler, owner=self, ssl_context=context)

    # -- lifecycle -------------------------------------------------------

    def start(self) -> None:
        self._server.start()

    def stop(self) -> None:
        self._server.stop()

    def reset(self, *, token_dir: Path | None = None) -> None:
        """Back to one tenant, one client (``default_client``), default config."""
        with self._lock:
            self.config = EntraConfig()
            self.clients = {self.default_client.client_id: self.default_client}
            self.tenant_ids = {self.tenant_id}
            self.requests = []
            self.minted = []
        self.token_dir = token_dir or self.workdir

    # -- addresses and identities ----------------------------------------------

    @property
    def authority_host(self) -> str:
        return self._server.base_url

    @property
    def client_id(self) -> str:
        return self.default_client.client_id

    @property
    def oid(self) -> str:
        return self.default_client.oid

    @property
    def client_secret(self) -> str:
        assert self.default_client.secret is not None
        return self.default_client.secret

    def jwks_url(self, version: TokenVersion = "1.0", tenant_id: str | None = None) -> str:
        middle = "discovery/v2.0/keys" if version == "2.0" else "discovery/keys"
        return f"{self.authority_host}/{tenant_id or self.tenant_id}/{middle}"

    def add_client(
        self,
        *,
        client_id: str | None = None,
        oid: str | None = None,
        secret: str | None = None,
        federated_subjects: frozenset[str] | None = None,
        federated: tuple[FederatedCredential, ...] | None = None,
    ) -> EntraClient:
        client = EntraClient(
            client_id=client_id or str(uuid.uuid4()),
            oid=oid or str(uuid.uuid4()),
            secret=secret,
            federated_subjects=federated_subjects,
            federated=federated,
        )
        with self._lock:
            self.clients[client.client_id] = client
        return client

    def add_tenant(self, tenant_id: str | None = None) -> str:
        tenant_id = tenant_id or str(uuid.uuid4())
        with self._lock:
            self.tenant_ids.add(tenant_id)
        return tenant_id

    def trust_ca(self, context: ssl.SSLContext) -> None:
        """Make ``context`` trust this peer's throwaway CA (in addition to its own)."""
        self._ca.configure_trust(context)

    def ssl_context(self) -> ssl.SSLContext:
        return ssl.create_default_context(cafile=str(self.ca_bundle_path))

    # -- minting -------------------------------------------------------------

    def now(self) -> int:
        return int(time.time() + self.config.time_offset)

    def mint(
        self,
        *,
        resource: str = DEFAULT_RESOURCE,
        client_id: str | None = None,
        tenant_id: str | None = None,
        client_auth: Literal["1", "2"] = "2",
    ) -> str:
        """An access token for ``resource`` exactly as the token endpoint would issue it."""
        client = self.clients[client_id or self.client_id]
        config = self.config
        issued_at = self.now()
        if config.expired:
            issued_at -= config.lifetime + 600
        spec = AccessTokenSpec(
            tenant_id=tenant_id or self.tenant_id,
            client_id=client.client_id,
            oid=client.oid,
            audience=config.audience or resource,
            version=config.token_version,
            issued_at=issued_at,
            lifetime=config.lifetime,
            issuer=config.issuer,
            client_auth=client_auth,
            omit_claims=config.omit_claims,
            claim_overrides=tuple(config.claim_overrides.items()),
        )
        if config.signing == "forged":
            token = mint_access_token(spec, self.forged_key, kid=self.signing_key.kid)
        elif config.signing == "unknown-kid":
            token = mint_access_token(spec, self.forged_key)
        else:
            token = mint_access_token(spec, self.signing_key)
        with self._lock:
            self.minted.append(token)
        return token

    def federated_assertion(
        self, *, subject: str = "system:serviceaccount:default:workload", lifetime: int = 3600
    ) -> str:
        """A projected service-account token as the kubelet would write it."""
        return mint_federated_assertion(
            self.cluster_key, issued_at=int(time.time()), subject=subject, lifetime=lifetime,
            issuer=CLUSTER_ISSUER,
        )

    def write_federated_token(
        self,
        *,
        subject: str = "system:serviceaccount:default:workload",
        name: str = "azure-identity-token",
    ) -> Path:
        path = self.token_dir / name
        path.write_text(self.federated_assertion(subject=subject))
        return path

    def env(
        self,
        *,
        client_id: str | None = None,
        workload_identity: bool = True,
        client_secret: bool = False,
        subject: str = "system:serviceaccount:default:workload",
    ) -> dict[str, str]:
        """AZURE_* variables as the workload identity webhook (and/or an SP secret) sets them.

        SSL_CERT_FILE / REQUESTS_CA_BUNDLE point at the peer's CA. Note: aiohttp
        reads SSL_CERT_FILE once, at import, so async credentials also need
        ``trust_ca`` on aiohttp's default context or ``connection_verify=``.
        """
        client = self.clients[client_id or self.client_id]
        env = {
            "AZURE_AUTHORITY_HOST": self.authority_host,
            "AZURE_TENANT_ID": self.tenant_id,
            "AZURE_CLIENT_ID": client.client_id,
            "SSL_CERT_FILE": str(self.ca_bundle_path),
            "REQUESTS_CA_BUNDLE": str(self.ca_bundle_path),
        }
        if workload_identity:
            env["AZURE_FEDERATED_TOKEN_FILE"] = str(self.write_federated_token(subject=subject))
        if client_secret:
            if client.secret is None:
                raise ValueError(f"client {client.client_id} has no secret")
            env["AZURE_CLIENT_SECRET"] = client.secret
        return env

    # -- documents served ------------------------------------------------------

    def jwks(self, version: TokenVersion, tenant_id: str) -> dict[str, Any]:
        issuer = issuer_for("2.0", tenant_id) if version == "2.0" else None
        return {"keys": [self.signing_key.jwk(issuer=issuer)]}

    def openid_configuration(self, tenant_id: str, version: TokenVersion) -> dict[str, Any]:
        base = f"{self.authority_host}/{tenant_id}"
        v2 = "/v2.0" if version == "2.0" else ""
        return {
            "issuer": issuer_for(version, tenant_id),
            "authorization_endpoint": f"{base}/oauth2{v2}/authorize",
            "token_endpoint": f"{base}/oauth2{v2}/token",
            "device_authorization_endpoint": f"{base}/oauth2{v2}/devicecode",
            "end_session_endpoint": f"{base}/oauth2{v2}/logout",
            "jwks_uri": f"{base}/discovery{v2}/keys",
            "token_endpoint_auth_methods_supported": [
                "client_secret_post",
                "private_key_jwt",
                "client_secret_basic",
            ],
            "id_token_signing_alg_values_supported": ["RS256"],
            "response_types_supported": ["code", "id_token", "code id_token", "token id_token"],
            "subject_types_supported": ["pairwise"],
            "tenant_region_scope": "EU",
            "cloud_instance_name": "microsoftonline.com",
        }

    def record(self, entry: EntraRequest) -> None:
        with self._lock:
            self.requests.append(entry)

    def token_requests(self) -> list[EntraRequest]:
        with self._lock:
            return [r for r in self.requests if r.method == "POST"]

    def next_failure(self) -> TokenFailure | None:
        with self._lock:
            return self.config.failures.pop(0) if self.config.failures else None
