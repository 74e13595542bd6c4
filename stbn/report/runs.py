"""Read this run's results: per-frame metric files and where they sit in the results layout.

An evaluation folder is ``.../<group>/<name>/<dataset>/sigma<s>/`` (sRGB) or ``.../iso<i>/`` (raw)
and holds ``frames.csv`` (columns ``sequence, frame, psnr, ssim``, optionally ``seconds``) and
``summary.json``. The run is ``<group>/<name>``: an experiment's variant
(``results/eval/<experiment>/<variant>/...``) or a baseline method (``results/baselines/<method>/...``
gives ``baselines/<method>``). Every number a table shows is aggregated here from ``frames.csv`` by
:func:`stbn.metrics.hierarchical_mean` (frames -> sequence -> dataset), never copied from elsewhere.
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
    """The :class:`RunKey` encoded in ``.../<group>/<name>/<dataset>/(sigma|iso)<level>/frames.csv``."""
    folder = frames_path(path).parent
    match = _LEVEL.match(folder.name)
    if match is None or len(folder.parts) < 4:
        raise StbnError(
            f"{path}: expected a metric file at .../<group>/<name>/<dataset>/sigma<s>|iso<i>/{FRAMES_FILE}"
        )
    run = f"{folder.parents[2].name}/{folder.parents[1].name}"
    return RunKey(run, folder.parent.name, match.group(1), float(match.group(2)))  # type: ignore[arg-type]


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


def _finite(value: object) -> float | None:
    return float(value) if isinstance(value, int | float) and math.isfinite(value) else None


def _seconds_per_frame(path: Path, rows: list[dict[str, object]]) -> float | None:
    timed = [float(r["seconds"]) for r in rows if isinstance(r.get("seconds"), float)]
    if timed:
        return sum(timed) / len(timed)
    summary_path = path.parent / "summary.json"
    if not summary_path.is_file():
        return None
    try:
        summary = json.loads(summary_path.read_text())
    except json.JSONDecodeError:
        raise StbnError(f"{summary_path}: not valid JSON") from None
    if not isinstance(summary, dict):
        raise StbnError(f"{summary_path}: not a JSON object")
    per_frame = _finite(summary.get("seconds_per_frame"))
    total = _finite(summary.get("seconds"))
    return per_frame if per_frame is not None else (None if total is None else total / len(rows))


def read_score(path: str | Path) -> Score:
    """Aggregate one ``frames.csv``: mean over frames per sequence, then over sequences.

    ``seconds_per_frame`` is the mean of the ``seconds`` column when the file has one (baselines time
    every frame), else ``summary.json``'s ``seconds_per_frame``, else its ``seconds / frames`` (the
    whole evaluation's wall time, reading and scoring included), else None.
    """
    path = frames_path(path)
    rows = read_frames(path)
    return Score(
        psnr=hierarchical_mean(rows, ("sequence",), "psnr"),
        ssim=hierarchical_mean(rows, ("sequence",), "ssim"),
        frames=len(rows),
        seconds_per_frame=_seconds_per_frame(path, rows),
    )
