"""The Phase-protocol peer and the moto STS peer as one standalone process.

The kind e2e suite runs this in a pod (``e2e/peers.Dockerfile``, ``e2e/manifests/peers.yaml``)::

    python -m support.peers.serve --bind 0.0.0.0 --phase-port 8000 --sts-port 5000 \\
        --sts-public-endpoint http://sts.e2e-peers.svc.cluster.local:5000 \\
        --service-account-id 6a1c6d6e-... --default-ttl 60 --max-ttl 120 \\
        --contract /var/run/peers/contract.json

It starts moto as AWS STS (SigV4 enforced, ``StsPeer``) on ``--sts-port`` and the
Phase-protocol server (``PhaseServer``) on ``--phase-port``, both bound to ``--bind``
(default 127.0.0.1). The Phase peer holds one service account, ``--service-account-id``,
with server-side key management and one AWS IAM identity: STS endpoint
``--sts-public-endpoint`` (the URL clients sign for; the peer also forwards the signed
requests there), trusted principal the exact ARN of the credentials in the contract,
default and max TTL ``--default-ttl`` / ``--max-ttl``.

Once both listen, the contract is written (atomically, mode 0600) to ``--contract``::

    {"aws":   {"accessKeyId", "secretAccessKey", "sessionToken" (str or null), "arn",
               "region"},            # credentials moto accepts, trusted by the identity
     "phase": {"url", "authPath", "verifyPath", "serviceAccountId", "defaultTTL",
               "maxTTL"},
     "sts":   {"url", "publicEndpoint"}}

The two ``url`` values are where this process reaches the peers (loopback for a wildcard
bind). ``POST /e2e/verify`` on the Phase port (``phase_server.VERIFY_PATH``) answers
``{"valid": bool, "expiresAt": <unix seconds> | null}`` for ``{"token": "..."}``.

Runs until SIGTERM or SIGINT, then removes the contract, stops both servers and exits 0.
Exits 1 if the peers cannot start (a port in use, ...), 2 on bad arguments. Each Phase
request is logged to stderr (path, status, error or authenticated principal; never tokens).
"""

from __future__ import annotations

import argparse
import contextlib
import json
import logging
import os
import signal
import socket
import sys
import tempfile
import threading
import uuid
from collections.abc import Callable, Sequence
from pathlib import Path
from types import FrameType
from typing import Any
from urllib.parse import urlsplit

from .phase_model import RequestRecord
from .phase_server import CONSOLE_PATHS, VERIFY_PATH, PhaseServer
from .sts_peer import StsPeer

__all__ = ["build_contract", "main", "parse_args"]

log = logging.getLogger("support.peers.serve")


def _port(text: str) -> int:
    value = int(text)
    if not 0 <= value <= 65535:
        raise argparse.ArgumentTypeError(f"{value} is not a TCP port")
    return value


def _positive(text: str) -> int:
    value = int(text)
    if value <= 0:
        raise argparse.ArgumentTypeError(f"{value} is not a positive number of seconds")
    return value


def _uuid(text: str) -> str:
    try:
        uuid.UUID(text)
    except ValueError as error:
        raise argparse.ArgumentTypeError(f"{text!r} is not a UUID") from error
    return text


def _endpoint(text: str) -> str:
    parts = urlsplit(text)
    if parts.scheme not in ("http", "https") or not parts.netloc:
        raise argparse.ArgumentTypeError(f"{text!r} is not an absolute http(s) URL")
    return text.rstrip("/")


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python -m support.peers.serve",
        description="Run the Phase-protocol peer and the moto STS peer (kind e2e suite).",
    )
    parser.add_argument("--bind", default="127.0.0.1", help="address both peers listen on")
    parser.add_argument("--phase-port", type=_port, default=8000)
    parser.add_argument("--sts-port", type=_port, default=5000)
    parser.add_argument(
        "--sts-public-endpoint",
        type=_endpoint,
        help="STS URL clients sign for and the Phase peer forwards to "
        "(default: this process's own STS URL, e.g. http://127.0.0.1:5000)",
    )
    parser.add_argument(
        "--service-account-id",
        type=_uuid,
        default=None,
        help="the Phase service account to create (default: a random UUID)",
    )
    parser.add_argument("--default-ttl", type=_positive, default=3600, metavar="SECONDS")
    parser.add_argument("--max-ttl", type=_positive, default=86400, metavar="SECONDS")
    parser.add_argument("--region", default="us-east-1", help="AWS region of the STS peer")
    parser.add_argument(
        "--contract", type=Path, default=None, metavar="PATH", help="write the contract here"
    )
    args = parser.parse_args(argv)
    if args.default_ttl > args.max_ttl:
        parser.error(f"--default-ttl {args.default_ttl} exceeds --max-ttl {args.max_ttl}")
    if args.service_account_id is None:
        args.service_account_id = str(uuid.uuid4())
    return args


def build_contract(
    sts: StsPeer, phase: PhaseServer, *, public_endpoint: str, args: argparse.Namespace
) -> dict[str, Any]:
    creds = sts.trusted
    return {
        "aws": {
            "accessKeyId": creds.access_key_id,
            "secretAccessKey": creds.secret_access_key,
            "sessionToken": creds.session_token,
            "arn": creds.arn,
            "region": sts.region,
        },
        "phase": {
            "url": phase.base_url,
            "authPath": CONSOLE_PATHS["aws-iam"],
            "verifyPath": VERIFY_PATH,
            "serviceAccountId": args.service_account_id,
            "defaultTTL": args.default_ttl,
            "maxTTL": args.max_ttl,
        },
        "sts": {"url": sts.endpoint, "publicEndpoint": public_endpoint},
    }


def _write_atomically(path: Path, payload: dict[str, Any]) -> None:
    """Readers polling for the file (``test -s``) never see it half-written."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)
    try:
        with os.fdopen(fd, "w") as out:
            json.dump(payload, out, indent=2)
            out.write("\n")
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise


def _check_free(host: str, port: int) -> None:
    """moto's ThreadedMotoServer hangs forever if its port is taken: fail first instead."""
    if port == 0:
        return
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    with socket.socket(family, socket.SOCK_STREAM) as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        probe.bind((host, port))


def _log_request(record: RequestRecord) -> None:
    outcome = record.error or record.reason or ""
    if record.error and record.reason and record.reason != record.error:
        outcome = f"{record.error} ({record.reason})"
    log.info("phase %s %s -> %s %s", record.method, record.path, record.status, outcome)


class _StopFlag:
    """Set by SIGTERM/SIGINT; the main thread waits on it."""

    def __init__(self) -> None:
        self.event = threading.Event()

    def __call__(self, signum: int, frame: FrameType | None) -> None:
        log.info("received %s, shutting down", signal.Signals(signum).name)
        self.event.set()


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    logging.basicConfig(
        level=logging.INFO,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
        stream=sys.stderr,
    )
    logging.getLogger("httpx").setLevel(logging.WARNING)
    stop = _StopFlag()
    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    contract: Path | None = args.contract
    if contract is not None:
        # A restarted container must not leave the last run's credentials readable.
        contract.unlink(missing_ok=True)

    cleanup: list[tuple[str, Callable[[], None]]] = []
    try:
        try:
            _check_free(args.bind, args.sts_port)
            sts = StsPeer(region=args.region, host=args.bind, port=args.sts_port)
            cleanup.append(("sts peer", sts.stop))
            sts.start()
            phase = PhaseServer(host=args.bind, port=args.phase_port)
        except OSError as error:
            log.error("cannot start the peers on %s: %s", args.bind, error)
            return 1
        original_add = phase.records.add_request

        def add_request(record: RequestRecord) -> None:
            original_add(record)
            _log_request(record)

        phase.records.add_request = add_request  # type: ignore[method-assign]
        public_endpoint = args.sts_public_endpoint or sts.endpoint
        account = phase.add_service_account(account_id=args.service_account_id)
        phase.add_aws_identity(
            account,
            sts_endpoint=public_endpoint,
            trusted_principals=[sts.trusted.arn],
            default_ttl=args.default_ttl,
            max_ttl=args.max_ttl,
        )
        phase.start()
        cleanup.append(("phase peer", phase.stop))
        log.info(
            "sts peer: %s (bound to %s), public endpoint %s",
            sts.endpoint,
            args.bind,
            public_endpoint,
        )
        log.info(
            "phase peer: %s (bound to %s), service account %s trusts %s, TTL %s/%s s",
            phase.base_url,
            args.bind,
            account.id,
            sts.trusted.arn,
            args.default_ttl,
            args.max_ttl,
        )
        if contract is not None and not stop.event.is_set():
            _write_atomically(
                contract,
                build_contract(sts, phase, public_endpoint=public_endpoint, args=args),
            )
            log.info("contract written to %s", contract)
        log.info("ready")
        while not stop.event.wait(1.0):
            pass
        return 0
    finally:
        if contract is not None:
            with contextlib.suppress(OSError):
                contract.unlink(missing_ok=True)
        for name, stop_peer in reversed(cleanup):
            try:
                stop_peer()
            except Exception:
                log.exception("stopping the %s failed", name)
        log.info("stopped")


if __name__ == "__main__":
    sys.exit(main())
