"""The floor: what a platform team would write instead of the operator, run as a child process.

A plain asyncio script. It lists the bindings it is given (one LIST, by label), then for each,
at most ``--concurrency`` at a time (the operator's ``--max-concurrent-exchanges``), does
exactly: one exchange with the token service (a SigV4-signed STS ``GetCallerIdentity`` as
proof, signed like ``external_identity.exchange.providers.aws`` does, posted with the package's
:class:`~external_identity.exchange.client.TokenServiceClient`), one Secret create, one status
patch on the binding. No watch, no retry, no refresh, no finalizer, no events.

It signs with botocore directly rather than importing ``external_identity.exchange.providers``: that
package's ``__init__`` imports the Azure provider too (about 19 MiB), which a script for AWS
would not load. Kubernetes calls use the ``kubernetes`` client in as many threads as the
concurrency, as the operator does.

When done it prints one JSON line (issued, failed, seconds, first errors) and waits for its
stdin to close, so the bench can read its peak RSS and CPU time from /proc while it is alive.

    KUBECONFIG=... AWS_...=... python -m bench.floor --selector bench.externalidentity.dev/run \\
        --token-service http://127.0.0.1:PORT --sts-endpoint http://127.0.0.1:PORT \\
        --region us-east-1 --no-wait
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import faulthandler
import json
import signal
import sys
import time
from collections.abc import Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime
from typing import Any, cast
from urllib.parse import urlsplit

import botocore.session
from botocore.auth import SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.credentials import ReadOnlyCredentials
from kubernetes import client, config

from external_identity.exchange.client import (
    IssuedToken,
    TokenServiceClient,
    TokenServiceEndpoint,
    build_http_client,
)
from external_identity.exchange.proofs import AWS_IAM, Proof, ProviderName

GROUP, VERSION, PLURAL = "externalidentity.dev", "v1alpha1", "serviceaccountbindings"
GET_CALLER_IDENTITY = "Action=GetCallerIdentity&Version=2011-06-15"
FORM = "application/x-www-form-urlencoded; charset=utf-8"
ERRORS_SHOWN = 3


def b64(text: str) -> str:
    return base64.b64encode(text.encode()).decode()


def rfc3339(moment: datetime) -> str:
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


class SignedCallerIdentity:
    """A proof provider: a fresh SigV4-signed ``GetCallerIdentity`` for every exchange."""

    provider: ProviderName = AWS_IAM

    def __init__(self, endpoint: str, region: str) -> None:
        credentials = botocore.session.get_session().get_credentials()
        if credentials is None:
            raise SystemExit("floor: no AWS credentials in the environment")
        self._credentials: ReadOnlyCredentials = credentials.get_frozen_credentials()
        self._endpoint, self._region = endpoint, region
        self._host = urlsplit(endpoint).netloc

    async def proof(self) -> Proof:
        request = AWSRequest(
            method="POST", url=self._endpoint, data=GET_CALLER_IDENTITY,
            headers={"Host": self._host, "Content-Type": FORM},
        )
        SigV4Auth(self._credentials, "sts", self._region).add_auth(request)
        headers = dict(request.headers.items())
        return Proof(provider=AWS_IAM, path="aws/iam/auth/", payload={"awsIam": {
            "httpRequestMethod": "POST",
            "httpRequestUrl": b64(self._endpoint),
            "httpRequestHeaders": b64(json.dumps(headers)),
            "httpRequestBody": b64(GET_CALLER_IDENTITY),
        }})

    async def close(self) -> None:
        return None


def secret_body(binding: Mapping[str, Any], token: IssuedToken) -> dict[str, Any]:
    meta, spec = binding["metadata"], binding["spec"]
    return {
        "apiVersion": "v1",
        "kind": "Secret",
        "type": "Opaque",
        "metadata": {
            "name": spec["secret"]["name"],
            "namespace": meta["namespace"],
            "annotations": {"externalidentity.dev/expires-at": rfc3339(token.expires_at)},
            "ownerReferences": [{
                "apiVersion": f"{GROUP}/{VERSION}", "kind": "ServiceAccountBinding",
                "name": meta["name"], "uid": meta["uid"],
            }],
        },
        "data": {"token": b64(token.token)},
    }


def status_patch(binding: Mapping[str, Any], token: IssuedToken) -> dict[str, Any]:
    generation = binding["metadata"].get("generation")
    return {"status": {
        "observedGeneration": generation,
        "conditions": [{
            "type": "Ready", "status": "True", "reason": "TokenIssued",
            "message": "token issued", "observedGeneration": generation,
            "lastTransitionTime": rfc3339(token.issued_at),
        }],
        "expiresAt": rfc3339(token.expires_at),
        "lastRefreshTime": rfc3339(token.issued_at),
        "secretName": binding["spec"]["secret"]["name"],
    }}


async def issue_all(args: argparse.Namespace) -> tuple[int, list[str]]:
    """Issue every selected binding; (how many were listed, the errors of those that failed)."""
    asyncio.get_running_loop().set_default_executor(ThreadPoolExecutor(args.concurrency))
    configuration = client.Configuration()
    config.load_kube_config(client_configuration=configuration)
    configuration.connection_pool_maxsize = args.concurrency
    api = client.ApiClient(configuration)
    core, custom = client.CoreV1Api(api), client.CustomObjectsApi(api)
    listed = await asyncio.to_thread(
        custom.list_cluster_custom_object, GROUP, VERSION, PLURAL, label_selector=args.selector
    )
    bindings: Sequence[Mapping[str, Any]] = cast(dict[str, Any], listed)["items"]
    provider = SignedCallerIdentity(args.sts_endpoint, args.region)
    http = build_http_client()
    service = TokenServiceClient(TokenServiceEndpoint(host=args.token_service), http=http)
    slots = asyncio.Semaphore(args.concurrency)
    errors: list[str] = []

    async def issue(binding: Mapping[str, Any]) -> None:
        meta, spec = binding["metadata"], binding["spec"]
        async with slots:
            try:
                token = await service.exchange(
                    provider, service_account_id=spec["serviceAccountId"], ttl=spec.get("ttl")
                )
                secret: Any = secret_body(binding, token)  # the client takes plain dicts too
                await asyncio.to_thread(core.create_namespaced_secret, meta["namespace"], secret)
                await asyncio.to_thread(
                    custom.patch_namespaced_custom_object_status, GROUP, VERSION,
                    meta["namespace"], PLURAL, meta["name"], status_patch(binding, token),
                )
            except Exception as error:
                where = f"{meta['namespace']}/{meta['name']}"
                errors.append(f"{where}: {type(error).__name__}: {error}")

    try:
        await asyncio.gather(*(issue(binding) for binding in bindings))
    finally:
        await http.aclose()
        await asyncio.to_thread(api.close)
    return len(bindings), errors


def main(argv: Sequence[str] | None = None) -> int:
    started = time.monotonic()
    faulthandler.register(signal.SIGUSR1)  # the bench asks for our stacks when we are late
    parser = argparse.ArgumentParser(prog="python -m bench.floor", description=__doc__)
    parser.add_argument("--selector", required=True, help="label selector of the bindings")
    parser.add_argument("--token-service", required=True, help="token service host URL")
    parser.add_argument("--sts-endpoint", required=True, help="STS endpoint to sign for")
    parser.add_argument("--region", required=True, help="signing region")
    parser.add_argument("--concurrency", type=int, default=16, help="exchanges in flight")
    parser.add_argument("--no-wait", action="store_true", help="exit when done")
    args = parser.parse_args(argv)
    listed, errors = asyncio.run(issue_all(args))
    result = {
        "issued": listed - len(errors), "failed": len(errors), "errors": errors[:ERRORS_SHOWN],
        "seconds": round(time.monotonic() - started, 3),
    }
    print(json.dumps(result), flush=True)
    if not args.no_wait:
        sys.stdin.read()  # the bench reads /proc/<pid> now, then closes our stdin
    return 1 if errors else 0


if __name__ == "__main__":
    sys.exit(main())
