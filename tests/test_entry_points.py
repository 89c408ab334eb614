"""`make demo` and `make bench` start: their entry points import and answer --help."""

from __future__ import annotations

import importlib
import subprocess
import sys

import pytest


@pytest.mark.parametrize("module", ["support.demo", "bench.cli", "bench.floor"])
def test_the_entry_point_modules_import(module: str) -> None:
    assert callable(importlib.import_module(module).main)


def test_the_bench_explains_itself() -> None:
    result = subprocess.run(
        [sys.executable, "-m", "bench", "--help"], capture_output=True, text=True, check=False
    )
    assert result.returncode == 0, result.stderr
    assert "--kubeconfig" in result.stdout
