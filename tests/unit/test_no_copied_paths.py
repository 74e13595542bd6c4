"""One training and one evaluation path for every method: the ``duplicates`` tool (where it is installed)
finds no place of the training, inference or evaluation code that repeats another in ``stbn/`` or
``workflow/`` (a second method must plug in, not fork them)."""

from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
PATHS = {
    "stbn": ("training/", "engine/", "evaluation/protocol.py", "evaluation/metrics.py", "checkpoint.py",
             "models/registry.py", "models/losses.py", "report/complexity.py"),
    "workflow": ("rules/train.smk", "rules/evaluate.smk"),
}
"""Per tree: the files (or folders) of the training and evaluation paths (``commands/`` only parse arguments
and print: their argparse registrations share a shape without sharing a path)."""
PAIR = re.compile(r"^D\d+ (\S+):\d+-\d+ ~ (\S+):\d+-\d+", re.M)


@pytest.mark.skipif(shutil.which("duplicates") is None, reason="the duplicates tool is not installed")
@pytest.mark.parametrize("tree", list(PATHS))
def test_no_training_or_evaluation_path_is_copied(tree):
    out = subprocess.run(["duplicates", "--repo", str(REPO / tree), "--most", "200", "--seconds", "120"],
                         capture_output=True, text=True, check=True).stdout
    assert "incomplete" not in out, out
    copied = [m[0] for m in PAIR.finditer(out) if any(p.startswith(PATHS[tree]) for p in m.groups())]
    assert not copied, out
