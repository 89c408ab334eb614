"""Stand-ins for docker, kind, kubectl and helm, for a dry run of the e2e scripts.

Run as ``python fake_cluster_tools.py TOOL ARGS...``. Every call is appended to
``$FAKE_STATE/calls.jsonl``; manifests applied from stdin go to ``applied.yaml``. The
answers play a cluster in which everything works (or, with FAKE_BAD_TOKEN=1, one whose
mounted token is garbage). Files only; no network.
"""

from __future__ import annotations

import base64
import json
import os
import sys
from pathlib import Path

STATE = Path(os.environ["FAKE_STATE"])
CONTRACT = {
    "aws": {
        "accessKeyId": "AKIAE2EFAKE",
        "secretAccessKey": "not-a-secret",
        "sessionToken": None,
        "arn": "arn:aws:sts::123456789012:assumed-role/phase-operator/e2e",
        "region": "us-east-1",
    }
}


def _count(name: str) -> int:
    counter = STATE / name
    value = int(counter.read_text()) + 1 if counter.exists() else 1
    counter.write_text(str(value))
    return value


def docker(args: list[str]) -> int:
    if args[:1] == ["version"]:
        print("27.0.0")
    elif args[:2] == ["image", "inspect"]:
        print("10001:10001")
    elif args[:1] == ["run"] and "import pip" in args:
        return 1
    elif args[:1] == ["run"]:
        print("external-identity 0.1.0")
    return 0


def kind(args: list[str]) -> int:
    if args[:1] == ["version"]:
        print("kind v0.23.0 go1.22 linux/amd64")
    return 0


def helm(args: list[str]) -> int:
    if args[:1] == ["version"]:
        print("v3.15.0")
    return 0


def kubectl(args: list[str]) -> int:
    line = " ".join(args)
    if "version" in args and "--client" in args:
        print("Client Version: v1.30.0")
    elif " apply -f -" in line + " ":
        with (STATE / "applied.yaml").open("a") as applied:
            applied.write(sys.stdin.read() + "\n---\n")
    elif "--dry-run=client" in args:
        print("apiVersion: v1\nkind: Secret\nmetadata:\n  name: placeholder")
    elif " exec " in f" {line} " and "cat /var/run/peers/contract.json" in line:
        print(json.dumps(CONTRACT))
    elif " exec " in f" {line} " and "cat /var/run/phase/token" in line:
        if os.environ.get("FAKE_BAD_TOKEN") == "1":
            print("garbage")
        else:
            print("pss_service:v2:first" if _count("token-reads") == 1 else "pss_service:v2:second")
    elif " exec -i token-reader " in f" {line} ":
        token = args[-1]
        sys.stdin.read()
        return 0 if token.startswith("pss_service:v2:") else 1
    elif "{.status.expiresAt}" in line or "{.status.lastRefreshTime}" in line:
        print("2030-01-01T00:00:00Z")
    elif "ownerReferences" in line:
        print("ServiceAccountBinding/e2e-binding")
    elif "{.data.token}" in line:
        print(base64.b64encode(b"pss_service:v2:rewritten").decode())
    elif args[-2:] == ["secret", "phase-service-token"] and "get" in args:
        return 1 if (STATE / "binding-deleted").exists() else 0
    elif "delete" in args and "serviceaccountbinding" in args:
        (STATE / "binding-deleted").touch()
    return 0


def main() -> int:
    tool, *args = sys.argv[1:]
    with (STATE / "calls.jsonl").open("a") as calls:
        calls.write(json.dumps([tool, *args]) + "\n")
    return {"docker": docker, "kind": kind, "kubectl": kubectl, "helm": helm}[tool](args)


if __name__ == "__main__":
    sys.exit(main())
