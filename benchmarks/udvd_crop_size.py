"""PSNR of a trained model's prior mean (before the posterior step) on top-left crops of growing size.

A network whose mean degrades as the crop grows past its training crop has learned the crop borders
(docs/recipe.md: UDVD trained on 48x48 crops). First ``--frames`` frames of one test sequence, seed-0
noise at ``--sigma``:

    .venv/bin/python benchmarks/udvd_crop_size.py --checkpoint results/models/main/udvd/pooled/seed0/model.pt \\
        --data resources/datasets/embedded-srgb-test --sequence carphone
"""

from __future__ import annotations

import argparse

import numpy as np
import torch

from stbn.checkpoint import load_model
from stbn.evaluation.protocol import srgb_test_sequences
from stbn.hardware import machine_line

SIZES = [(48, 48), (48, 96), (96, 48), (96, 96), (128, 128), (128, 256)]


def psnr(a: torch.Tensor, b: torch.Tensor) -> float:
    return float(10 * torch.log10(1 / ((a - b) ** 2).mean()))


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--checkpoint", required=True)
    p.add_argument("--data", required=True, help="sRGB test set (Set8 layout)")
    p.add_argument("--sequence", required=True)
    p.add_argument("--sigma", type=float, default=30.0)
    p.add_argument("--frames", type=int, default=6)
    args = p.parse_args()
    net, cfg, _ = load_model(args.checkpoint, "cpu", kind="srgb")
    seq = next(s for s in srgb_test_sequences(args.data, args.sigma, args.frames) if s.name == args.sequence)
    noisy = torch.from_numpy(np.ascontiguousarray(seq.noisy)).permute(0, 3, 1, 2)[None].float()
    clean = torch.from_numpy(np.ascontiguousarray(seq.clean)).permute(0, 3, 1, 2)[None].float()
    print(machine_line())
    for h, w in SIZES:
        x, c = noisy[..., :h, :w], clean[..., :h, :w]
        with torch.no_grad():
            out = net(x) if cfg.method == "udvd" else net(x, noise_map=seq.sigma)
        print(f"{h}x{w}: mean {psnr(out[:, :, :3].clamp(0, 1), c):.2f} dB, noisy {psnr(x, c):.2f} dB")


if __name__ == "__main__":
    main()
