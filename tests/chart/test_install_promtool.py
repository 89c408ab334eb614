"""tools/install-promtool.sh: idempotent, and loud when promtool cannot be had."""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

from .conftest import REPO

SCRIPT = REPO / "tools" / "install-promtool.sh"
BASH = shutil.which("bash") or "/bin/bash"


def _run(tools_dir: Path, path: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [BASH, str(SCRIPT)],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
        env={"PATH": str(path), "TOOLS_DIR": str(tools_dir), "HOME": os.environ.get("HOME", "/")},
    )


def _bin_without_apt(tmp_path: Path) -> Path:
    """A PATH holding the basic tools the script needs, but no apt-get."""
    bin_dir = tmp_path / "path"
    bin_dir.mkdir()
    for tool in ("dirname", "id", "mktemp", "rm"):
        found = shutil.which(tool)
        assert found
        (bin_dir / tool).symlink_to(found)
    return bin_dir


def test_a_working_promtool_is_kept(tmp_path: Path) -> None:
    existing = tmp_path / "tools" / "bin" / "promtool"
    existing.parent.mkdir(parents=True)
    existing.write_text("#!/bin/sh\necho 'promtool, version 9.9.9'\n")
    existing.chmod(0o755)
    result = _run(tmp_path / "tools", _bin_without_apt(tmp_path))
    assert result.returncode == 0, result.stderr
    assert result.stdout.splitlines()[-1] == str(existing)


def test_without_debians_archive_it_fails_and_says_why(tmp_path: Path) -> None:
    result = _run(tmp_path / "tools", _bin_without_apt(tmp_path))
    assert result.returncode != 0
    assert "'apt-get' is required" in result.stderr
    assert not (tmp_path / "tools" / "bin" / "promtool").exists()
