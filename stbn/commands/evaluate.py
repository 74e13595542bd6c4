"""``stbn evaluate``: the paper's evaluation protocol on a checkpoint (STBN_SPEC.md section 8)."""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

from stbn.commands.protocol_args import (
    add_test_data_arguments,
    check_out,
    check_test_data,
    open_test_sequences,
    save_sample,
    write_results,
)
from stbn.device import add_device_argument, resolve_device
from stbn.errors import StbnError

FIELDS = ("sequence", "frame", "psnr", "ssim")


def add_parser(subparsers: argparse._SubParsersAction) -> None:
    """Register ``evaluate``."""
    p = subparsers.add_parser(
        "evaluate",
        help="per-frame PSNR/SSIM of a checkpoint by the paper's protocol",
        description="Denoise each test sequence in one pass and score every frame; writes OUT/frames.csv "
        "(sequence, frame, psnr, ssim) and OUT/summary.json (mean over frames, then sequences).",
    )
    p.add_argument("--checkpoint", required=True, type=Path, help="model.pt or last.pt of stbn train")
    add_test_data_arguments(p)
    p.add_argument("--save-output", action="store_true", help="also write the denoised frames to OUT/denoised/<seq>/")
    p.add_argument("--bit-depth", type=int, default=16, choices=(8, 16), help="PNG depth of --save-output frames")
    add_device_argument(p)
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    """Check inputs, OUT and the checkpoint, then evaluate sequence by sequence into a temporary sibling of
    OUT that becomes OUT only when every result is written."""
    from tqdm import tqdm

    from stbn.checkpoint import load_model
    from stbn.data.atomic import atomic_output
    from stbn.data.io import write_frames
    from stbn.evaluation.metrics import summarise
    from stbn.evaluation.protocol import denoise_sequence, score_sequence
    from stbn.provenance import provenance

    kind = check_test_data(args)
    check_out(args.out)
    device = resolve_device(args.device)
    net, cfg, _ = load_model(args.checkpoint, device, kind=kind)
    sequences, keys, max_frames = open_test_sequences(args, kind)
    rows: list[dict[str, object]] = []
    start = time.perf_counter()
    with atomic_output(args.out.absolute(), directory=True) as out:
        for i, seq in enumerate(tqdm(sequences, desc="evaluate", unit="seq", dynamic_ncols=True)):
            den = denoise_sequence(net, seq, cfg)
            rows += score_sequence(seq, den, kind)
            if args.save_output:
                write_frames(den, out / "denoised" / seq.name, bit_depth=args.bit_depth)
            if i < args.samples and kind == "srgb":
                save_sample(out, seq.name, seq.noisy, den, seq.clean)
        if not rows:
            raise StbnError(f"{args.data}: no test sequences")
        summary = {
            **summarise(rows, keys),
            "checkpoint": str(args.checkpoint),
            "data": str(args.data),
            "noisy": str(args.noisy) if args.noisy else None,
            "sigma": args.sigma,
            "iso": args.iso,
            "max_frames": max_frames,
            "seconds": time.perf_counter() - start,
            "provenance": provenance(),
        }
        write_results(out, rows, (*keys[:-1], *FIELDS), summary)
    print(f"PSNR {summary['psnr']:.4f} dB  SSIM {summary['ssim']:.4f}  ({summary['frames']} frames)", file=sys.stderr)
    return 0
