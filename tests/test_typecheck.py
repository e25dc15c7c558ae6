"""ruff and mypy are clean (.ci/typecheck), so CI fails on a lint or type error like on a failing test."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent


@pytest.mark.slow
def test_ruff_and_mypy_are_clean() -> None:
    if shutil.which("bash") is None:  # pragma: no cover - every CI machine has bash
        pytest.fail(".ci/typecheck needs bash")
    env = {**os.environ, "PYTHON": sys.executable}
    result = subprocess.run(
        ["bash", str(ROOT / ".ci" / "typecheck")], cwd=ROOT, env=env, capture_output=True, text=True, timeout=900
    )
    assert result.returncode == 0, result.stdout[-6000:] + result.stderr[-3000:]
    assert "Success: no issues found" in result.stdout
