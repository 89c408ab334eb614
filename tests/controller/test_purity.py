"""The decision chain is pure: importing it loads no Kubernetes, kopf or HTTP client."""

from __future__ import annotations

import subprocess
import sys

PURE = (
    "external_identity.controller.decide.decisions",
    "external_identity.controller.bindings.outcomes",
    "external_identity.controller.decide.plans",
    "external_identity.controller.decide.backoffs",
    "external_identity.controller.decide.problems",
    "external_identity.controller.decide.fingerprints",
    "external_identity.controller.decide.timing",
    "external_identity.secrets.targets",
)
IO_LIBRARIES = ("kopf", "kubernetes", "httpx")


def test_the_decision_chain_imports_no_io_library() -> None:
    probe = (
        "import importlib, sys\n"
        f"for name in {PURE!r}: importlib.import_module(name)\n"
        f"print(sorted({{m.split('.')[0] for m in sys.modules}} & set({IO_LIBRARIES!r})))\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", probe], capture_output=True, text=True, check=True
    )
    assert result.stdout.strip() == "[]"
