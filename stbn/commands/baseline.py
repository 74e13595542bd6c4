"""``stbn baseline``: a classical method on the paper's test frames, scored and timed per frame.

The noisy frames are exactly those ``stbn evaluate`` gives STBN (seed-0 AWGN per sequence, or the raw
captures ``noisy0``), so every row of a table compares methods on the same input. Writes
``OUT/frames.csv`` (like ``stbn evaluate``, plus ``seconds``: the denoising wall time of the frame),
``OUT/summary.json`` and, for the first ``--samples`` sequences, ``OUT/samples/<sequence>/`` with the
middle frame as a ``noisy | output | clean`` panel, laid out as ``stbn evaluate`` writes it.
"""

from __future__ import annotations

import argparse
import csv
import json
import sys
from pathlib import Path

import numpy as np

from stbn.errors import StbnError

FIELDS = ("sequence", "frame", "psnr", "ssim", "seconds")


def add_parser(subparsers: argparse._SubParsersAction) -> None:
    """Register ``baseline``."""
    from stbn.baselines import METHODS

    p = subparsers.add_parser(
        "baseline",
        help="per-frame PSNR/SSIM and wall time of a classical denoiser on the paper's test frames",
        description="Score a classical denoiser on exactly the noisy frames stbn evaluate uses; writes "
        "OUT/frames.csv (sequence, frame, psnr, ssim, seconds), OUT/summary.json and OUT/samples/.",
    )
    p.add_argument("--method", required=True, choices=METHODS, help="noisy input, BM3D, OpenCV or scikit-image NLM")
    p.add_argument("--data", required=True, type=Path, help="clean test sequences (Set8/DAVIS layout) or a CRVD root")
    level = p.add_mutually_exclusive_group(required=True)
    level.add_argument("--sigma", type=float, help="sRGB: AWGN std on the /255 scale (seed 0 per sequence)")
    level.add_argument("--iso", type=int, help="raw: CRVD ISO (real capture noisy0; method noisy only)")
    p.add_argument("--out", required=True, type=Path, help="output folder")
    p.add_argument("--noisy", type=Path,
                   help="sRGB: use these noisy frames (same sequence folders) instead of seed-0 AWGN")
    p.add_argument("--max-frames", type=int, default=None, help="frames per sequence (default: 85 sRGB, 7 raw)")
    p.add_argument("--samples", type=int, default=0,
                   help="save the middle frame of the first K sequences to OUT/samples/")
    p.add_argument("--workers", type=int, default=1,
                   help="denoise this many frames at once in separate processes (each still timed alone)")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    """Check the inputs, then denoise, score and time every frame of every test sequence."""
    from stbn.baselines import denoise_sequence
    from stbn.data.atomic import atomic_output
    from stbn.data.io import write_frames
    from stbn.metrics import summarise
    from stbn.protocol import raw_test_sequences, score_sequence, srgb_test_sequences
    from stbn.provenance import provenance

    kind = "srgb" if args.sigma is not None else "raw"
    if kind == "srgb" and not 0 < args.sigma <= 255:
        raise StbnError(f"--sigma {args.sigma}: expected a std on the /255 scale in (0, 255]")
    if kind == "raw" and args.method != "noisy":
        raise StbnError(f"--method {args.method}: the classical baselines run on sRGB only (raw: --method noisy)")
    if args.max_frames is not None and args.max_frames < 1:
        raise StbnError(f"--max-frames {args.max_frames}: must be >= 1")
    for path, what in ((args.data, "--data"), (args.noisy, "--noisy")):
        if path is not None and not path.is_dir():
            raise StbnError(f"{what} {path}: no such folder")
    max_frames = args.max_frames or (85 if kind == "srgb" else 7)
    if kind == "srgb":
        sequences = srgb_test_sequences(args.data, args.sigma, max_frames, noisy_root=args.noisy)
        keys: tuple[str, ...] = ("sequence",)
    else:
        sequences = raw_test_sequences(args.data, args.iso, max_frames)
        keys = ("iso", "sequence")
    (args.out / "samples").mkdir(parents=True, exist_ok=True)  # the folder exists even with no samples
    rows: list[dict[str, object]] = []
    for i, seq in enumerate(sequences):
        outputs = list(denoise_sequence(seq.noisy, args.sigma, args.method, workers=args.workers))
        denoised = np.stack([frame for frame, _ in outputs])
        scored = score_sequence(seq, denoised, kind)
        rows += [{**row, "seconds": seconds} for row, (_, seconds) in zip(scored, outputs)]
        print(f"{args.method} {seq.name}: {len(outputs)} frames", file=sys.stderr)
        if i < args.samples and kind == "srgb":
            t = len(denoised) // 2
            panel = np.concatenate([np.clip(seq.noisy[t], 0, 1), denoised[t], np.clip(seq.clean[t], 0, 1)], axis=1)
            write_frames([panel], args.out / "samples" / seq.name)
    if not rows:
        raise StbnError(f"{args.data}: no test sequences")
    seconds = sum(float(r["seconds"]) for r in rows)  # type: ignore[arg-type]
    summary = {
        **summarise(rows, keys),
        "method": args.method,
        "data": str(args.data),
        "noisy": str(args.noisy) if args.noisy else None,
        "sigma": args.sigma,
        "iso": args.iso,
        "max_frames": max_frames,
        "seconds": seconds,
        "seconds_per_frame": seconds / len(rows),
        "provenance": provenance(),
    }
    with atomic_output(args.out / "frames.csv") as tmp, tmp.open("w", newline="") as f:
        writer = csv.DictWriter(f, (*keys[:-1], *FIELDS), extrasaction="ignore")
        writer.writeheader()
        writer.writerows(rows)
    with atomic_output(args.out / "summary.json") as tmp:
        tmp.write_text(json.dumps(summary, indent=2))
    print(f"{args.method}: PSNR {summary['psnr']:.4f} dB  SSIM {summary['ssim']:.4f}  "
          f"{summary['seconds_per_frame']:.3g} s/frame ({len(rows)} frames)", file=sys.stderr)
    return 0
