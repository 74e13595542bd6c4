"""The ruff gate of .ci/run: the rule set of pyproject.toml ([tool.ruff.lint]) finds nothing."""

import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]


def test_ruff_reports_nothing():
    ruff = Path(sys.executable).parent / "ruff"
    proc = subprocess.run([ruff, "check", "--no-cache", "."], cwd=REPO, capture_output=True, text=True)
    assert proc.returncode == 0, proc.stdout + proc.stderr
