"""Provenance recorded beside every checkpoint and result: software versions, git revision, machine, time."""

from __future__ import annotations

import platform
import subprocess
import sys
from datetime import UTC, datetime
from importlib import metadata
from pathlib import Path

from stbn import hardware

PACKAGES: tuple[str, ...] = (
    "stbn", "torch", "numpy", "scipy", "scikit-image", "pydantic", "av", "rawpy", "opencv-python-headless"
)


def git_revision(path: Path | None = None) -> str:
    """``<sha>`` (``-dirty`` if the work tree has changes) of the checkout holding ``path``, or ``unknown``."""
    where = str(path or Path(__file__).resolve().parent)
    try:
        sha = subprocess.run(
            ["git", "-C", where, "rev-parse", "HEAD"], capture_output=True, text=True, timeout=10, check=True
        ).stdout.strip()
        dirty = subprocess.run(
            ["git", "-C", where, "status", "--porcelain", "--untracked-files=no"],
            capture_output=True, text=True, timeout=10, check=True,
        ).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        return "unknown"
    return f"{sha}-dirty" if dirty else sha


def versions() -> dict[str, str]:
    """Installed versions of the packages that determine results (``missing`` if not installed)."""
    found = {}
    for name in PACKAGES:
        try:
            found[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            found[name] = "missing"
    return found


def provenance() -> dict[str, object]:
    """A JSON-ready record: UTC timestamp, command line, Python/platform, package versions, git revision and
    the machine (:func:`stbn.hardware.describe`: what ``speed: auto`` resolved against)."""
    return {
        "timestamp": datetime.now(UTC).isoformat(timespec="seconds"),
        "command": " ".join(sys.argv),
        "python": platform.python_version(),
        "platform": platform.platform(),
        "versions": versions(),
        "git": git_revision(),
        "machine": hardware.describe(),
    }
