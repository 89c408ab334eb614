"""`make demo`: the real operator against a local API emulator and local token-service peers.

Starts, all on 127.0.0.1: the Kubernetes API emulator the tests use, moto as AWS
STS, and the Phase-protocol test server; runs `external-identity run` as a
separate process; applies examples/demo/ (the AWS example with short TTLs);
prints a live table of the Secret and the binding as tokens are issued and
refreshed; then stops everything it started. Tokens are shown only as short
fingerprints.
"""

from __future__ import annotations

import base64
import hashlib
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from pathlib import Path
from typing import Any

import yaml
from kubernetes.client.exceptions import ApiException

from support.kube.server import KubeAPI
from support.operator import OperatorProcess, clean_env
from support.peers.phase_server import PhaseServer
from support.peers.sts_peer import StsPeer

EXAMPLES = Path(__file__).resolve().parents[1] / "examples" / "demo"
REFRESHES_TO_SHOW = 2
TIME_LIMIT = 120.0
ROW = "{:<9} {:<10} {:<21} {:<6} {:<14} {:<21} {}"


@contextmanager
def running(server: PhaseServer | StsPeer) -> Iterator[None]:
    server.start()
    try:
        yield
    finally:
        server.stop()


def documents() -> list[dict[str, Any]]:
    found: list[dict[str, Any]] = []
    for path in sorted(EXAMPLES.glob("0[12]-*.yaml")):
        found += [doc for doc in yaml.safe_load_all(path.read_text()) if doc]
    return found


def fingerprint(value: str) -> str:
    return "sha256:" + hashlib.sha256(value.encode()).hexdigest()[:10]


def snapshot(kube: KubeAPI, namespace: str, binding: str) -> tuple[str, ...] | None:
    secret = kube.get("v1/secrets", namespace, "phase-service-token")
    sab = kube.get("externalidentity.dev/v1alpha1/serviceaccountbindings", namespace, binding)
    status = (sab or {}).get("status") or {}
    ready = next((c for c in status.get("conditions") or [] if c.get("type") == "Ready"), {})
    token = "-"
    if secret and (secret.get("data") or {}).get("token"):
        token = fingerprint(base64.b64decode(secret["data"]["token"]).decode())
    expires = (
        (secret or {})
        .get("metadata", {})
        .get("annotations", {})
        .get("externalidentity.dev/expires-at", "-")
    )
    return (
        token,
        expires,
        ready.get("status", "-"),
        ready.get("reason", "-"),
        status.get("nextRefreshTime", "-"),
    )


def main() -> int:
    print("external-identity-operator demo")
    print("Everything runs locally: a Kubernetes API *emulator* (not a cluster), moto as AWS")
    print("STS, and a test server that speaks Phase's token protocol. No cloud is contacted.\n")
    with ExitStack() as stack:
        workdir = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="eid-demo-")))
        kube = stack.enter_context(KubeAPI.serve(workdir / "kubeconfig"))
        sts = StsPeer()
        stack.enter_context(running(sts))
        phase = PhaseServer()
        stack.enter_context(running(phase))
        account = phase.add_service_account()
        phase.add_aws_identity(
            account,
            sts_endpoint=sts.endpoint,
            trusted_principals=[sts.trust_pattern()],
            default_ttl=30,
            max_ttl=120,
        )
        print(f"  Kubernetes API emulator  {kube.url}")
        print(f"  AWS STS (moto)           {sts.endpoint}")
        print(f"  token service (peer)     {phase.base_url}")
        print(f"  trusted principal        {sts.trust_pattern()}\n")

        operator = OperatorProcess(env=clean_env(sts.env(), kube.env()), args=())
        operator.start()
        stack.callback(operator.stop)

        namespace, binding = "phase-demo", "demo-token"
        for doc in documents():
            spec = doc.get("spec") or {}
            if doc["kind"] == "ExternalIdentity":
                spec["tokenService"]["host"] = phase.base_url
                spec["aws"]["stsEndpoint"] = sts.endpoint
                for entry in spec["serviceAccounts"]:
                    entry["id"] = account.id
            if doc["kind"] == "ServiceAccountBinding":
                spec["serviceAccountId"] = account.id
                namespace, binding = doc["metadata"]["namespace"], doc["metadata"]["name"]
            kube.create(doc)
            print(f"applied {doc['kind']}/{doc['metadata']['name']}")
        print("\nwatching Secret phase-demo/phase-service-token and its binding:\n")
        print(ROW.format("TIME", "EVENT", "TOKEN", "READY", "REASON", "EXPIRES", "NEXT REFRESH"))

        tokens: list[str] = []
        last: tuple[str, ...] | None = None
        deadline = time.monotonic() + TIME_LIMIT
        while len(tokens) <= REFRESHES_TO_SHOW and time.monotonic() < deadline:
            try:
                now = snapshot(kube, namespace, binding)
            except ApiException:
                now = None
            if now is not None and now != last and now[0] != "-":
                token = now[0]
                event = "-"
                if token != "-" and (not tokens or tokens[-1] != token):
                    tokens.append(token)
                    event = "created" if len(tokens) == 1 else f"refresh {len(tokens) - 1}"
                print(
                    ROW.format(
                        time.strftime("%H:%M:%S"), event, token, now[2], now[3], now[1], now[4]
                    ),
                    flush=True,
                )
                last = now
            time.sleep(0.2)
        sab = kube.get("externalidentity.dev/v1alpha1/serviceaccountbindings", namespace, binding)
        print("\nbinding status:")
        print(yaml.safe_dump((sab or {}).get("status"), sort_keys=False))
        print("stopping the operator and the local peers…")
    if len(tokens) <= REFRESHES_TO_SHOW:
        print(f"demo FAILED: saw {len(tokens)} token(s); the operator log follows", file=sys.stderr)
        print(operator.output[-4000:], file=sys.stderr)
        return 1
    print(f"demo OK: the Secret was created and refreshed {len(tokens) - 1} times with new tokens.")
    return 0


if __name__ == "__main__":
    sys.exit(main())
