"""The emulator publishes its service-account issuer like an API server does."""

from __future__ import annotations

import time

import httpx
import jwt
from support.kube.fixtures import KubeAPI


def test_tokens_verify_with_keys_discovered_from_their_issuer(kube_api: KubeAPI) -> None:
    kube_api.ensure_namespace("team")
    core = kube_api.core_v1()
    core.create_namespaced_service_account("team", {"metadata": {"name": "app"}})
    issued = core.create_namespaced_service_account_token(
        "app", "team", {"spec": {"audiences": ["api://AzureADTokenExchange"],
                                 "expirationSeconds": 3600}}
    )
    issuer = jwt.decode(issued.status.token, options={"verify_signature": False})["iss"]
    assert issuer == kube_api.url

    discovery = httpx.get(f"{issuer}/.well-known/openid-configuration").json()
    assert discovery["issuer"] == issuer
    assert discovery["jwks_uri"] == f"{issuer}/openid/v1/jwks"
    keys = jwt.PyJWKClient(discovery["jwks_uri"]).get_signing_key_from_jwt(issued.status.token)
    claims = jwt.decode(issued.status.token, keys.key, algorithms=["RS256"],
                        audience="api://AzureADTokenExchange", issuer=issuer)
    assert claims["sub"] == "system:serviceaccount:team:app"
    assert claims["kubernetes.io"]["serviceaccount"]["name"] == "app"
    assert 3590 <= claims["exp"] - time.time() <= 3600
