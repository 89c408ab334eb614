"""`run --kubeconfig PATH` and `--context NAME`: the operator, kopf's part included, reaches the
cluster they name, with no ``$KUBECONFIG`` and no ``~/.kube/config`` to fall back on.

Tokens are issued by the operator's own informers and fleet; the identity's Ready condition is
written by kopf's handler, so both say the cluster was reached by each part.
"""

from __future__ import annotations

import json
import socket
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from support.operator import OperatorProcess
from support.peers.phase_model import ServiceAccount

from tests.cli.running import run_cli_process
from tests.operator.harness import Cluster, wait_for
from tests.operator.test_identities import identity_ready

pytestmark = pytest.mark.usefixtures("loopback_only")


def _env_without_kubeconfig(operator_env: dict[str, str], tmp_path: Path) -> dict[str, str]:
    """The operator's environment with no kubeconfig to find by itself (empty home)."""
    home = tmp_path / "home"
    home.mkdir()
    env = {key: value for key, value in operator_env.items() if key != "KUBECONFIG"}
    return {**env, "HOME": str(home)}


def _closed_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def _two_contexts(cluster: Cluster, path: Path) -> Path:
    """The emulator's kubeconfig plus a current context ``broken`` at a port nobody serves."""
    config: dict[str, Any] = json.loads(cluster.kube.kubeconfig_path.read_text())
    config["clusters"].append(
        {"name": "broken", "cluster": {"server": f"http://127.0.0.1:{_closed_port()}"}})
    config["contexts"].append(
        {"name": "broken", "context": {"cluster": "broken", "user": "emulator"}})
    config["current-context"] = "broken"
    path.write_text(json.dumps(config))
    return path


def _token_issued_and_identity_handled(cluster: Cluster) -> None:
    cluster.wait_ready("TokenIssued", timeout=30)
    wait_for(lambda: (identity_ready(cluster) or {}).get("reason") == "Valid",
             message="kopf's Ready condition on the identity")


def test_kubeconfig_flag_needs_no_kubeconfig_in_the_environment(
    cluster: Cluster, account: ServiceAccount, operator_env: dict[str, str], tmp_path: Path,
    start_operator: Callable[..., OperatorProcess],
) -> None:
    cluster.apply_identity()
    cluster.apply_binding(account.id, ttl=600)
    start_operator("--kubeconfig", str(cluster.kube.kubeconfig_path),
                   env=_env_without_kubeconfig(operator_env, tmp_path))
    _token_issued_and_identity_handled(cluster)


def test_context_flag_picks_that_context_over_a_broken_current_one(
    cluster: Cluster, account: ServiceAccount, operator_env: dict[str, str], tmp_path: Path,
    start_operator: Callable[..., OperatorProcess],
) -> None:
    cluster.apply_identity()
    cluster.apply_binding(account.id, ttl=600)
    kubeconfig = _two_contexts(cluster, tmp_path / "kubeconfig")
    start_operator("--kubeconfig", str(kubeconfig), "--context", "emulator",
                   env=_env_without_kubeconfig(operator_env, tmp_path))
    _token_issued_and_identity_handled(cluster)


def test_context_flag_alone_picks_that_context_of_the_kubeconfig_in_the_environment(
    cluster: Cluster, account: ServiceAccount, operator_env: dict[str, str], tmp_path: Path,
    start_operator: Callable[..., OperatorProcess],
) -> None:
    cluster.apply_identity()
    cluster.apply_binding(account.id, ttl=600)
    kubeconfig = _two_contexts(cluster, tmp_path / "kubeconfig")
    start_operator("--context", "emulator", env={**operator_env, "KUBECONFIG": str(kubeconfig)})
    _token_issued_and_identity_handled(cluster)


def test_a_missing_kubeconfig_or_context_is_a_usage_error(
    cluster: Cluster, operator_env: dict[str, str], tmp_path: Path,
) -> None:
    env = _env_without_kubeconfig(operator_env, tmp_path)
    missing = run_cli_process("run", "--kubeconfig", str(tmp_path / "absent"), env=env)
    assert missing.code == 2, missing.err
    assert "cannot load Kubernetes configuration" in missing.err
    unknown = run_cli_process("run", "--kubeconfig", str(cluster.kube.kubeconfig_path),
                              "--context", "nowhere", env=env)
    assert unknown.code == 2, unknown.err
    assert "nowhere" in unknown.err
