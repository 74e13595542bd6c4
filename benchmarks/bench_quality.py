"""Quality cost of the speed and memory options on the embedded test set (paper protocol, sigma 30).

Each option denoises every sequence of ``embedded-srgb-test`` (seed-0 AWGN, first ``--frames``
frames) and is scored per frame like ``stbn evaluate``; printed: mean PSNR and its change against the
fp32 whole-clip reference, the max |difference| of the outputs and their PSNR against the reference
outputs. Options: streaming fp32 (exact), streaming bf16 + channels-last, whole-clip bf16 + channels-last,
and tiling with several overlaps (the receptive field depends on depth, not width, so ``--width 16``
measures the seams of the paper-depth model at a sixteenth of the cost). Every option uses the same flow
estimator: a checkpoint's own, or ``--flow`` for random weights (default PWC-Net with random weights:
non-zero flows, so tiles warp with cropped flows as they do with a trained estimator).

    .venv/bin/python benchmarks/bench_quality.py --checkpoint model.pt
    .venv/bin/python benchmarks/bench_quality.py --width 16 --only tile    # seams, random paper-depth model

Acceptance (issue 8; PSNR changes are only meaningful with a trained ``--checkpoint``):

- 8.3, PSNR part: ``bench_quality.py --checkpoint model.pt --only bf16`` prints ``dPSNR`` of the
  reduced-precision options (streaming and whole clip) against fp32 whole clip (< 0.05 dB; roughly
  5-10 min at paper width on 2 idle cores).
- 8.5: ``bench_quality.py --checkpoint model.pt --only tile`` prints ``dPSNR`` of tiled against the
  untiled reference for each overlap (< 0.01 dB; roughly 30-40 min at paper width, 5 min with
  ``--width 16`` and random weights).
- 8.1 on real footage: ``--only stream`` (``max|d|`` of streaming fp32 against the whole clip).
"""

from __future__ import annotations

import argparse
import tempfile
from pathlib import Path

import numpy as np
import torch
from _common import add_flow_argument, model, model_description, psnr_of_mse

from stbn.config import ExperimentConfig, InferConfig, SpeedConfig
from stbn.data.embedded import TEST, materialise
from stbn.evaluation.metrics import frame_psnr
from stbn.evaluation.protocol import denoise_sequence, srgb_test_sequences

SIGMA_255 = 30.0


def options(tile: int, overlaps: list[int]) -> dict[str, tuple[InferConfig | None, SpeedConfig]]:
    """Name -> (infer, speed); the first is the reference."""
    fp32 = SpeedConfig(precision="fp32", channels_last=False)
    out: dict[str, tuple[InferConfig | None, SpeedConfig]] = {
        "whole fp32 (reference)": (None, fp32),
        "stream fp32": (InferConfig(), fp32),
        "stream bf16 CL": (InferConfig(), SpeedConfig(precision="bf16", channels_last=True)),
        "whole bf16 CL": (None, SpeedConfig(precision="bf16", channels_last=True)),
    }
    for ov in overlaps:
        out[f"tile {tile} overlap {ov} fp32"] = (InferConfig(tile=tile, tile_overlap=ov), fp32)
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--checkpoint", help="trained sRGB model, with its own flow estimator (default: random)")
    parser.add_argument("--width", type=int, default=64, help="state width of the random model (paper: 64)")
    add_flow_argument(parser)
    parser.add_argument("--frames", type=int, default=25, help="frames per sequence")
    parser.add_argument("--tile", type=int, default=128)
    parser.add_argument("--overlaps", type=int, nargs="+", default=[32, 64, 96, 128])
    parser.add_argument("--data", type=Path, help="folder holding embedded-srgb-test (default: build in a temp dir)")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--only", help="run the reference and the options whose name contains this text")
    parser.add_argument("--sequence", help="only this test sequence (bikes-fence or carphone)")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    net = model(args.checkpoint, args.width, args.flow)
    with tempfile.TemporaryDirectory() as tmp:
        root = args.data / TEST if args.data else materialise(Path(tmp))[TEST]
        seqs = [s for s in srgb_test_sequences(root, SIGMA_255, args.frames) if args.sequence in (None, s.name)]
        print(f"# bench_quality: {model_description(args.checkpoint, args.width, args.flow)}\n# "
              f"{', '.join(f'{s.name} {s.noisy.shape[2]}x{s.noisy.shape[1]}x{s.noisy.shape[0]}' for s in seqs)}")
        print(f"{'option':<28} {'PSNR':>8} {'dPSNR':>8} {'max|d|':>9} {'PSNR vs ref':>11}")
        ref_out: dict[str, np.ndarray] = {}
        ref_psnr = 0.0
        for i, (name, (infer, speed)) in enumerate(options(args.tile, args.overlaps).items()):
            if i and args.only and args.only not in name:
                continue
            psnrs, diffs, mses = [], [], []
            for seq in seqs:
                den = denoise_sequence(net, seq, ExperimentConfig(infer=infer, speed=speed))
                psnrs += [frame_psnr(seq.clean[t], den[t]) for t in range(den.shape[0])]
                if i == 0:
                    ref_out[seq.name] = den
                diffs.append(float(np.abs(den - ref_out[seq.name]).max()))
                mses.append(float(np.mean((den.astype(np.float64) - ref_out[seq.name]) ** 2)))
            mean = float(np.mean(psnrs))
            ref_psnr = mean if i == 0 else ref_psnr
            vs_ref = psnr_of_mse(float(np.mean(mses)))
            print(f"{name:<28} {mean:8.4f} {mean - ref_psnr:+8.4f} {max(diffs):9.2e} {vs_ref:11.2f}", flush=True)
            net.to(memory_format=torch.contiguous_format)  # undo channels-last for the next option


if __name__ == "__main__":
    main()
