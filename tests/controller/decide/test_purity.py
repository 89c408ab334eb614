"""The decision chain is pure: importing any module of ``controller/decide`` in a fresh
interpreter loads no library that performs I/O, directly or through anything it imports."""

from __future__ import annotations

import pkgutil
import subprocess
import sys

import external_identity.controller.decide as decide

PURE = sorted(
    module.name for module in pkgutil.walk_packages(decide.__path__, f"{decide.__name__}.")
)
IO_LIBRARIES = (
    "aiohttp", "azure", "boto3", "botocore", "httpcore", "httpx", "kopf", "kubernetes",
    "requests", "urllib3",
)


def test_the_chain_has_modules_to_check() -> None:
    assert "external_identity.controller.decide.checks" in PURE
    assert "external_identity.controller.decide.decisions" in PURE


def test_the_decision_chain_imports_no_io_library() -> None:
    probe = (
        "import importlib, sys\n"
        f"for name in {PURE!r}: importlib.import_module(name)\n"
        "print(sorted({m.split('.')[0] for m in sys.modules}))\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", probe], capture_output=True, text=True, check=True
    )
    loaded = set(eval(result.stdout))
    assert "pydantic" in loaded, "the probe should have imported the chain"
    assert sorted(loaded & set(IO_LIBRARIES)) == []
