"""Read this run's results: per-frame metric files and where they sit in the results layout.

An evaluation folder is ``.../<group>/<name>/<dataset>/sigma<s>/`` (sRGB) or ``.../iso<i>/`` (raw),
optionally followed by ``seed<k>/`` (the training seed of a learned model), and holds ``frames.csv``
(columns ``sequence, frame, psnr, ssim``, optionally ``seconds``) and ``summary.json``. The run is
``<group>/<name>``: an experiment's variant (``results/eval/<experiment>/<variant>/...``) or a baseline
method (``results/baselines/<method>/...`` gives ``baselines/<method>``). An input given as
``LABEL=PATH`` is the run ``LABEL`` whatever its folder (two variants that share one trained model
share its evaluation). Every number a table shows is aggregated here from ``frames.csv`` by
:func:`stbn.evaluation.metrics.hierarchical_mean` (frames -> sequence -> dataset), never copied from elsewhere.
"""

from __future__ import annotations

import csv
import json
import math
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

import numpy as np

from stbn.errors import StbnError
from stbn.evaluation.metrics import hierarchical_mean

Axis = Literal["sigma", "iso"]
FRAMES_FILE = "frames.csv"
REQUIRED_COLUMNS = ("sequence", "frame", "psnr", "ssim")
_LEVEL = re.compile(r"^(sigma|iso)(\d+(?:\.\d+)?)$")
_SEED = re.compile(r"^seed(\d+)$")


@dataclass(frozen=True)
class RunKey:
    """Which evaluation a metric file belongs to."""

    run: str
    dataset: str
    axis: Axis
    level: float
    seed: int | None = None
    """The training seed (None: not a trained model, e.g. a classical baseline)."""


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


def split_label(item: str | Path) -> tuple[str | None, Path]:
    """``"LABEL=PATH"`` -> ``(LABEL, PATH)``; a plain path -> ``(None, path)``."""
    label, sep, path = str(item).partition("=")
    if not sep:
        return None, Path(item)
    if not label or not path:
        raise StbnError(f"{item}: expected PATH or LABEL=PATH")
    return label, Path(path)


def parse_key(path: str | Path, run: str | None = None) -> RunKey:
    """The :class:`RunKey` encoded in ``.../<group>/<name>/<dataset>/(sigma|iso)<level>[/seed<k>]/frames.csv``;
    ``run`` (a label) replaces ``<group>/<name>``."""
    folder = frames_path(path).parent
    seed = _SEED.match(folder.name)
    if seed is not None:
        folder = folder.parent
    match = _LEVEL.match(folder.name)
    if match is None or len(folder.parts) < 4:
        raise StbnError(
            f"{path}: expected a metric file at .../<group>/<name>/<dataset>/sigma<s>|iso<i>[/seed<k>]/{FRAMES_FILE}"
        )
    run = run or f"{folder.parents[2].name}/{folder.parents[1].name}"
    return RunKey(run, folder.parent.name, match.group(1), float(match.group(2)),  # type: ignore[arg-type]
                  None if seed is None else int(seed.group(1)))


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


def model_run(path: str | Path) -> str:
    """``<experiment>/<variant>`` (and `` seed <k>``) of a file in
    ``results/models/<experiment>/<variant>/<level>[/seed<k>]/``; ``LABEL=PATH`` gives ``LABEL``."""
    label, path = split_label(path)
    folder = path.parent
    seed = _SEED.match(folder.name)
    if seed is not None:
        folder = folder.parent
    if len(folder.parts) < 3:
        raise StbnError(f"{path}: expected a file at .../<experiment>/<variant>/<level>[/seed<k>]/{path.name}")
    run = label or f"{folder.parents[1].name}/{folder.parent.name}"
    return run if seed is None else f"{run} seed {seed.group(1)}"


@dataclass(frozen=True)
class TrainingLog:
    """Validation points of a training log: ``steps``, ``val_psnr`` and, if logged, ``elapsed`` seconds."""

    steps: list[int]
    val_psnr: list[float]
    elapsed: list[float] | None
    total_steps: int


def read_log(path: str | Path) -> TrainingLog:
    """The rows of ``log.csv`` (``stbn train``) that carry a validation PSNR."""
    path = Path(path)
    if not path.is_file():
        raise StbnError(f"{path}: training log not found")
    with path.open(newline="") as handle:
        reader = csv.DictReader(handle)
        if not {"step", "val_psnr"} <= set(reader.fieldnames or []):
            raise StbnError(f"{path}: a training log needs the columns step and val_psnr")
        rows = list(reader)
    try:
        points = [(int(r["step"]), float(r["val_psnr"]), r.get("elapsed")) for r in rows if r["val_psnr"]]
        elapsed = [float(e) for _, _, e in points] if points and all(e for _, _, e in points) else None
        total = max((int(r["step"]) for r in rows), default=0)
    except ValueError:
        raise StbnError(f"{path}: step, val_psnr and elapsed must be numbers") from None
    if not points:
        raise StbnError(f"{path}: no validation PSNR logged (set train.val_every and a validation set)")
    return TrainingLog([p[0] for p in points], [p[1] for p in points], elapsed, total)


def read_benchmark_seconds(path: str | Path) -> float:
    """Wall-clock seconds of a job from its Snakemake ``benchmark:`` file (column ``s``)."""
    path = Path(path)
    if not path.is_file():
        raise StbnError(f"{path}: benchmark file not found")
    with path.open(newline="") as handle:
        rows = list(csv.DictReader(handle, delimiter="\t"))
    try:
        return float(rows[0]["s"])
    except (IndexError, KeyError, TypeError, ValueError):
        raise StbnError(f"{path}: not a Snakemake benchmark file (no 's' column)") from None


def read_samples(path: str | Path) -> dict[str, tuple[np.ndarray, np.ndarray, np.ndarray]]:
    """Sample panels of an evaluation's ``samples/`` folder: ``{sequence: (noisy, output, clean)}``.

    Each ``samples/<sequence>/`` holds one ``noisy | output | clean`` panel image (``stbn evaluate``
    and ``stbn baseline`` write the middle frame); the thirds are float ``(H, W, 3)`` in [0, 1].
    """
    from stbn.data.io import frame_files, read_image

    path = Path(path)
    if not path.is_dir():
        raise StbnError(f"{path}: samples folder not found")
    panels = {}
    for folder in sorted(p for p in path.iterdir() if p.is_dir()):
        files = frame_files(folder)
        if not files:
            continue
        image = read_image(files[0])
        if image.shape[1] % 3:
            raise StbnError(f"{files[0]}: a sample panel is three frames side by side (width {image.shape[1]})")
        w = image.shape[1] // 3
        panels[folder.name] = (image[:, :w], image[:, w : 2 * w], image[:, 2 * w :])
    return panels
