"""Read this run's results: per-frame metric files and where they sit in the results layout.

An evaluation folder is ``.../<run>/<dataset>/sigma<s>/`` (sRGB) or ``.../<run>/<dataset>/iso<i>/``
(raw) and holds ``frames.csv`` (columns ``sequence, frame, psnr, ssim``, optionally ``seconds``) and
``summary.json``. ``<run>`` is an experiment (a trained model) or a baseline method. Every number a
table shows is aggregated here from ``frames.csv`` by :func:`stbn.metrics.hierarchical_mean`
(frames -> sequence -> dataset), never copied from elsewhere.
"""

from __future__ import annotations

import csv
import json
import math
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from stbn.errors import StbnError
from stbn.metrics import hierarchical_mean

Axis = Literal["sigma", "iso"]
FRAMES_FILE = "frames.csv"
REQUIRED_COLUMNS = ("sequence", "frame", "psnr", "ssim")
_LEVEL = re.compile(r"^(sigma|iso)(\d+(?:\.\d+)?)$")


@dataclass(frozen=True)
class RunKey:
    """Which evaluation a metric file belongs to."""

    run: str
    dataset: str
    axis: Axis
    level: float


@dataclass(frozen=True)
class Score:
    """Dataset-level scores of one evaluation, aggregated from its per-frame file."""

    psnr: float
    ssim: float
    frames: int
    seconds_per_frame: float | None


def frames_path(path: str | Path) -> Path:
    """``path`` itself if it names a file, else ``path/frames.csv``."""
    path = Path(path)
    return path if path.suffix == ".csv" else path / FRAMES_FILE


def parse_key(path: str | Path) -> RunKey:
    """The :class:`RunKey` encoded in ``.../<run>/<dataset>/(sigma|iso)<level>/frames.csv``."""
    folder = frames_path(path).parent
    match = _LEVEL.match(folder.name)
    if match is None or len(folder.parts) < 3:
        raise StbnError(
            f"{path}: expected a metric file at .../<run>/<dataset>/sigma<s>|iso<i>/{FRAMES_FILE}"
        )
    return RunKey(folder.parent.parent.name, folder.parent.name, match.group(1), float(match.group(2)))  # type: ignore[arg-type]


def read_frames(path: str | Path) -> list[dict[str, object]]:
    """Rows of a ``frames.csv`` with ``psnr``/``ssim`` (and ``seconds`` if present) as floats."""
    path = frames_path(path)
    if not path.is_file():
        raise StbnError(f"{path}: metric file not found")
    with path.open(newline="") as handle:
        reader = csv.DictReader(handle)
        missing = [c for c in REQUIRED_COLUMNS if c not in (reader.fieldnames or [])]
        if missing:
            raise StbnError(f"{path}: missing column(s) {', '.join(missing)} (expected {', '.join(REQUIRED_COLUMNS)})")
        rows: list[dict[str, object]] = []
        for line, row in enumerate(reader, start=2):
            try:
                parsed: dict[str, object] = dict(row)
                for name in ("psnr", "ssim", "seconds"):
                    if row.get(name) not in (None, ""):
                        parsed[name] = float(row[name])
            except ValueError:
                raise StbnError(f"{path}:{line}: psnr, ssim and seconds must be numbers") from None
            rows.append(parsed)
    if not rows:
        raise StbnError(f"{path}: no frames")
    return rows


def _seconds_per_frame(path: Path, rows: list[dict[str, object]]) -> float | None:
    timed = [float(r["seconds"]) for r in rows if isinstance(r.get("seconds"), float)]
    if timed:
        return sum(timed) / len(timed)
    summary = path.parent / "summary.json"
    if summary.is_file():
        try:
            value = json.loads(summary.read_text()).get("seconds_per_frame")
        except (json.JSONDecodeError, AttributeError):
            raise StbnError(f"{summary}: not a JSON object") from None
        if isinstance(value, int | float) and math.isfinite(value):
            return float(value)
    return None


def read_score(path: str | Path) -> Score:
    """Aggregate one ``frames.csv``: mean over frames per sequence, then over sequences.

    ``seconds_per_frame`` is the mean of the ``seconds`` column when the file has one (baselines time
    every frame), else ``summary.json``'s ``seconds_per_frame``, else None.
    """
    path = frames_path(path)
    rows = read_frames(path)
    return Score(
        psnr=hierarchical_mean(rows, ("sequence",), "psnr"),
        ssim=hierarchical_mean(rows, ("sequence",), "ssim"),
        frames=len(rows),
        seconds_per_frame=_seconds_per_frame(path, rows),
    )
