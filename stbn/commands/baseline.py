"""``stbn baseline``: a classical method on the paper's test frames, scored and timed per frame.

The noisy frames are exactly those ``stbn evaluate`` gives STBN (seed-0 AWGN per sequence, or the raw
captures ``noisy0``), so every row of a table compares methods on the same input. Writes
``OUT/frames.csv`` (like ``stbn evaluate``, plus ``seconds``: the denoising wall time of the frame),
``OUT/summary.json`` and, for the first ``--samples`` sequences, ``OUT/samples/<sequence>/`` with the
middle frame as a ``noisy | output | clean`` panel, laid out as ``stbn evaluate`` writes it.
"""

from __future__ import annotations

import argparse
import sys

import numpy as np

from stbn.commands.protocol_args import (
    add_test_data_arguments,
    check_out,
    check_test_data,
    open_test_sequences,
    save_sample,
    write_results,
)
from stbn.errors import StbnError

FIELDS = ("sequence", "frame", "psnr", "ssim", "seconds")


def add_parser(subparsers: argparse._SubParsersAction) -> None:
    """Register ``baseline``."""
    from stbn.evaluation.baselines import METHODS

    p = subparsers.add_parser(
        "baseline",
        help="per-frame PSNR/SSIM and wall time of a classical denoiser on the paper's test frames",
        description="Score a classical denoiser on exactly the noisy frames stbn evaluate uses; writes "
        "OUT/frames.csv (sequence, frame, psnr, ssim, seconds), OUT/summary.json and OUT/samples/.",
    )
    p.add_argument("--method", required=True, choices=METHODS, help="noisy input, BM3D, OpenCV or scikit-image NLM")
    add_test_data_arguments(p)
    p.add_argument("--workers", type=int, default=1,
                   help="denoise this many frames at once in separate processes (each still timed alone)")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    """Check the inputs and OUT, then denoise, score and time every frame of every test sequence into a
    temporary sibling of OUT that becomes OUT only when every result is written."""
    from stbn.data.atomic import atomic_output
    from stbn.evaluation.baselines import denoise_sequence
    from stbn.evaluation.metrics import summarise
    from stbn.evaluation.protocol import score_sequence
    from stbn.provenance import provenance

    kind = check_test_data(args)
    if kind == "raw" and args.method != "noisy":
        raise StbnError(f"--method {args.method}: the classical baselines run on sRGB only (raw: --method noisy)")
    check_out(args.out)
    sequences, keys, max_frames = open_test_sequences(args, kind)
    rows: list[dict[str, object]] = []
    with atomic_output(args.out.absolute(), directory=True) as out:
        (out / "samples").mkdir()  # the folder exists even with no samples
        for i, seq in enumerate(sequences):
            outputs = list(denoise_sequence(seq.noisy, args.sigma, args.method, workers=args.workers))
            denoised = np.stack([frame for frame, _ in outputs])
            scored = score_sequence(seq, denoised, kind)
            rows += [{**row, "seconds": seconds} for row, (_, seconds) in zip(scored, outputs)]
            print(f"{args.method} {seq.name}: {len(outputs)} frames", file=sys.stderr)
            if i < args.samples and kind == "srgb":
                save_sample(out, seq.name, seq.noisy, denoised, seq.clean)
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
        write_results(out, rows, (*keys[:-1], *FIELDS), summary)
    print(f"{args.method}: PSNR {summary['psnr']:.4f} dB  SSIM {summary['ssim']:.4f}  "
          f"{summary['seconds_per_frame']:.3g} s/frame ({len(rows)} frames)", file=sys.stderr)
    return 0
