"""Shared by the verbs that score on the paper's test frames (``evaluate``, ``baseline``): the
test-data options, their checks, and the result files. Not a verb itself."""

from __future__ import annotations

import argparse
import csv
import json
from collections.abc import Iterator, Sequence
from pathlib import Path

import numpy as np

from stbn.errors import StbnError


def add_test_data_arguments(p: argparse.ArgumentParser) -> None:
    """``--data``, ``--sigma | --iso``, ``--out``, ``--noisy``, ``--max-frames``, ``--samples``."""
    p.add_argument("--data", required=True, type=Path, help="clean test sequences (Set8/DAVIS layout) or a CRVD root")
    level = p.add_mutually_exclusive_group(required=True)
    level.add_argument("--sigma", type=float, help="sRGB: AWGN std on the /255 scale (seed 0 per sequence)")
    level.add_argument("--iso", type=int, help="raw: CRVD ISO (real noisy capture noisy0)")
    p.add_argument("--out", required=True, type=Path, help="output folder")
    p.add_argument("--noisy", type=Path, help="sRGB: score these noisy frames (same sequence folders), not seed-0 AWGN")
    p.add_argument("--max-frames", type=int, default=None, help="frames per sequence (default: 85 sRGB, 7 raw)")
    p.add_argument("--samples", type=int, default=0,
                   help="save the middle frame of the first K sequences (OUT/samples/)")


def check_test_data(args: argparse.Namespace) -> str:
    """Check the options of :func:`add_test_data_arguments` before any work; returns the data kind."""
    from stbn.data.noise import raw_noise_params

    kind = "srgb" if args.sigma is not None else "raw"
    if kind == "srgb" and not 0 < args.sigma <= 255:
        raise StbnError(f"--sigma {args.sigma}: expected a std on the /255 scale in (0, 255]")
    if kind == "raw":
        raw_noise_params(args.iso)
        if args.noisy is not None:
            raise StbnError("--noisy applies to sRGB data; raw evaluation uses the captures noisy0")
    if args.max_frames is not None and args.max_frames < 1:
        raise StbnError(f"--max-frames {args.max_frames}: must be >= 1")
    for path, what in ((args.data, "--data"), (args.noisy, "--noisy")):
        if path is not None and not path.is_dir():
            raise StbnError(f"{what} {path}: no such folder")
    return kind


RESULT_NAMES = frozenset({"frames.csv", "summary.json", "samples", "denoised"})
"""What these verbs write in OUT: an existing OUT holding nothing else is a previous run's, to be replaced."""


def check_out(out: Path) -> None:
    """Check ``--out`` before any work: OUT is written as a whole (a temporary sibling folder renamed at the
    end), so it must be creatable and, if it exists, a folder holding only a previous run's results."""
    from stbn.data.atomic import check_target

    check_target(out, "--out", directory=True)
    if out.is_dir():
        foreign = sorted(p.name for p in out.iterdir() if p.name not in RESULT_NAMES)
        if foreign:
            raise StbnError(
                f"--out {out}: holds {', '.join(foreign[:3])}{', ...' if len(foreign) > 3 else ''}, not results "
                "of a previous run (OUT is replaced as a whole); give a new or empty folder"
            )


def open_test_sequences(args: argparse.Namespace, kind: str) -> tuple[Iterator, tuple[str, ...], int]:
    """``(sequences, aggregation keys, max_frames)`` of the checked options."""
    from stbn.evaluation.protocol import raw_test_sequences, srgb_test_sequences

    max_frames = args.max_frames or (85 if kind == "srgb" else 7)
    if kind == "srgb":
        return srgb_test_sequences(args.data, args.sigma, max_frames, noisy_root=args.noisy), ("sequence",), max_frames
    return raw_test_sequences(args.data, args.iso, max_frames), ("iso", "sequence"), max_frames


def save_sample(out: Path, name: str, noisy: np.ndarray, denoised: np.ndarray, clean: np.ndarray) -> None:
    """``OUT/samples/<name>/00000.png``: the middle frame as a ``noisy | output | clean`` panel."""
    from stbn.data.io import write_frames

    t = len(denoised) // 2
    panel = np.concatenate([np.clip(noisy[t], 0, 1), denoised[t], np.clip(clean[t], 0, 1)], axis=1)
    write_frames([panel], out / "samples" / name)


def write_results(
    out: Path, rows: Sequence[dict[str, object]], fields: Sequence[str], summary: dict[str, object]
) -> None:
    """``OUT/frames.csv`` (``fields``) and ``OUT/summary.json``, each written atomically."""
    from stbn.data.atomic import atomic_output

    with atomic_output(out / "frames.csv") as tmp, tmp.open("w", newline="") as f:
        writer = csv.DictWriter(f, fields, extrasaction="ignore")
        writer.writeheader()
        writer.writerows(rows)
    with atomic_output(out / "summary.json") as tmp:
        tmp.write_text(json.dumps(summary, indent=2))
