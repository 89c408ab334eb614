"""Find a tool binary the chart tests run, installing it with the repository's script if need be."""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

__all__ = ["find_binary"]

REPO = Path(__file__).resolve().parents[2]


def _works(binary: str, version_args: tuple[str, ...]) -> bool:
    try:
        subprocess.run([binary, *version_args], check=True, capture_output=True, timeout=60)
    except (OSError, subprocess.SubprocessError):
        return False
    return True


def find_binary(
    name: str, *, env_var: str, version_args: tuple[str, ...], installer: str
) -> tuple[str | None, str]:
    """A working binary from $env_var, .tools/bin, $PATH or ``bash installer`` (which prints
    its path last); else None and why."""
    candidates = [os.environ.get(env_var), str(REPO / ".tools" / "bin" / name), shutil.which(name)]
    for candidate in candidates:
        if candidate and _works(candidate, version_args):
            return candidate, ""
    try:
        installed = subprocess.run(
            ["bash", str(REPO / installer)], check=True, capture_output=True, text=True, timeout=600
        )
    except subprocess.CalledProcessError as error:
        return None, f"{installer} failed: {error.stderr.strip()[-800:]}"
    except (OSError, subprocess.TimeoutExpired) as error:
        return None, f"{installer} could not run: {error}"
    binary = installed.stdout.strip().splitlines()[-1]
    return (binary, "") if _works(binary, version_args) else (None, f"{binary} does not run")
