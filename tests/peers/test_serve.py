"""``python -m support.peers.serve`` as the kind e2e suite runs it, but on loopback.

Starts the standalone peers in a subprocess on 127.0.0.1 with free ports, reads the
contract they write, performs a real signed AWS IAM exchange with the contract's
credentials (SigV4 checked by moto), asks ``/e2e/verify`` about the token, and stops
the process with SIGTERM.
"""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
from botocore.credentials import Credentials
from support.peers.phase_server import CONSOLE_PATHS, VERIFY_PATH
from support.peers.proofs import aws_iam_payload, sign_get_caller_identity

REPO_ROOT = Path(__file__).resolve().parents[2]
LOOPBACK = "127.0.0.1"
STARTUP_TIMEOUT = 60.0


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind((LOOPBACK, 0))
        return int(probe.getsockname()[1])


def _child_env() -> dict[str, str]:
    """No proxies, AWS profiles or metadata service: the child talks to itself only."""
    env = {
        name: value
        for name, value in os.environ.items()
        if not name.startswith("AWS_") and "proxy" not in name.lower()
    }
    env.update(
        AWS_EC2_METADATA_DISABLED="true",
        AWS_CONFIG_FILE=os.devnull,
        AWS_SHARED_CREDENTIALS_FILE=os.devnull,
        PYTHONUNBUFFERED="1",
    )
    return env


@dataclass
class Peers:
    process: subprocess.Popen[bytes]
    contract_path: Path
    contract: dict[str, Any]
    phase_url: str
    sts_url: str
    service_account_id: str
    log_path: Path

    def stderr(self) -> str:
        return self.log_path.read_text(errors="replace")


@pytest.fixture
def peers(tmp_path: Path) -> Iterator[Peers]:
    phase_port, sts_port = _free_port(), _free_port()
    account_id = str(uuid.uuid4())
    contract_path = tmp_path / "run" / "contract.json"
    log_path = tmp_path / "peers.log"
    sts_url = f"http://{LOOPBACK}:{sts_port}"
    command = [
        sys.executable,
        "-m",
        "support.peers.serve",
        f"--bind={LOOPBACK}",
        f"--phase-port={phase_port}",
        f"--sts-port={sts_port}",
        f"--sts-public-endpoint={sts_url}",
        f"--service-account-id={account_id}",
        "--default-ttl=60",
        "--max-ttl=120",
        f"--contract={contract_path}",
    ]
    with log_path.open("wb") as log:
        process = subprocess.Popen(
            command, cwd=REPO_ROOT, env=_child_env(), stdout=log, stderr=subprocess.STDOUT
        )
    try:
        deadline = time.monotonic() + STARTUP_TIMEOUT
        while not contract_path.exists():
            if process.poll() is not None:
                pytest.fail(f"peers exited with {process.returncode}:\n{log_path.read_text()}")
            if time.monotonic() > deadline:
                pytest.fail(f"no contract after {STARTUP_TIMEOUT}s:\n{log_path.read_text()}")
            time.sleep(0.1)
        yield Peers(
            process=process,
            contract_path=contract_path,
            contract=json.loads(contract_path.read_text()),
            phase_url=f"http://{LOOPBACK}:{phase_port}",
            sts_url=sts_url,
            service_account_id=account_id,
            log_path=log_path,
        )
    finally:
        if process.poll() is None:
            process.kill()
            process.wait(timeout=10)


def _verify(peers: Peers, token: str) -> dict[str, Any]:
    response = httpx.post(peers.phase_url + VERIFY_PATH, json={"token": token}, timeout=10)
    assert response.status_code == 200, response.text
    verdict: dict[str, Any] = response.json()
    return verdict


def _exchange(peers: Peers, credentials: Credentials, *, ttl: int | None) -> httpx.Response:
    signed = sign_get_caller_identity(credentials, endpoint=peers.sts_url)
    payload = aws_iam_payload(signed, account_id=peers.service_account_id, ttl=ttl)
    return httpx.post(peers.phase_url + CONSOLE_PATHS["aws-iam"], json=payload, timeout=30)


def test_contract_exchange_verify_and_clean_shutdown(peers: Peers, loopback_only: None) -> None:
    aws = peers.contract["aws"]
    assert set(aws) == {"accessKeyId", "secretAccessKey", "sessionToken", "arn", "region"}
    assert aws["region"] == "us-east-1"
    assert aws["arn"].startswith("arn:aws:sts::123456789012:assumed-role/")
    assert peers.contract["phase"]["serviceAccountId"] == peers.service_account_id
    assert peers.contract["sts"]["publicEndpoint"] == peers.sts_url
    assert peers.contract_path.stat().st_mode & 0o077 == 0
    credentials = Credentials(aws["accessKeyId"], aws["secretAccessKey"], aws["sessionToken"])

    response = _exchange(peers, credentials, ttl=60)
    assert response.status_code == 200, response.text
    authentication = response.json()["authentication"]
    assert authentication["tokenType"] == "ServiceAccount"
    assert (authentication["TTL"], authentication["maxTTL"]) == (60, 120)
    token = authentication["token"]
    assert token.startswith("pss_service:v2:")

    verdict = _verify(peers, token)
    assert verdict["valid"] is True
    assert isinstance(verdict["expiresAt"], int)
    assert abs(verdict["expiresAt"] - (time.time() + 60)) < 15
    unknown = _verify(peers, "pss_service:v2:" + ":".join(["00" * 32] * 4))
    assert unknown == {"valid": False, "expiresAt": None}
    assert _verify(peers, token[:-1])["valid"] is False

    # The configured TTLs hold: no ttl gets the default, more than --max-ttl is refused.
    default = _exchange(peers, credentials, ttl=None)
    assert default.status_code == 200, default.text
    assert default.json()["authentication"]["TTL"] == 60
    assert _exchange(peers, credentials, ttl=121).status_code == 400
    # moto enforces SigV4: the same key id with another secret is refused (401 from STS).
    forged = Credentials(aws["accessKeyId"], "not-the-secret", aws["sessionToken"])
    assert _exchange(peers, forged, ttl=60).status_code == 401

    peers.process.send_signal(signal.SIGTERM)
    assert peers.process.wait(timeout=30) == 0, peers.stderr()
    assert not peers.contract_path.exists()
    output = peers.stderr()
    assert "Traceback" not in output, output
    assert "received SIGTERM" in output
    assert "stopped" in output


def test_bad_arguments_exit_2() -> None:
    result = subprocess.run(
        [sys.executable, "-m", "support.peers.serve", "--default-ttl=200", "--max-ttl=100"],
        cwd=REPO_ROOT,
        env=_child_env(),
        capture_output=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 2
    assert b"exceeds --max-ttl" in result.stderr
