"""Flow accuracy and speed figures (issue 3, acceptance 3).

DIS: mean interior end-point error (16 px margin) on scikit-image stills translated by known sub-pixel
shifts, with sigma = 30/255 Gaussian noise, for every preset and pre-smoothing. The default was chosen
on the *selection* images (chelsea, rocket); the acceptance images (astronaut, coffee) only report it.
PWC-Net (random weights; the speed does not depend on them): CPU seconds per frame pair.

    .venv/bin/python benchmarks/flow_accuracy.py            # about 2 minutes on 2 cores
    .venv/bin/python benchmarks/flow_accuracy.py --quick    # fewer seeds, no large PWC size
"""

from __future__ import annotations

import argparse
import time

import numpy as np
import torch
from skimage import data

from stbn.analysis.flow_eval import clip_epe, translated_clip
from stbn.models.flow import DISFlow, PWCFlow
from stbn.models.flow.dis import PRESETS

SIGMA = 30 / 255
SMALL = [(0.37, -0.61), (0.25, 0.5), (-0.8, 0.15)]
LARGE = [(2.5, -1.3), (3.7, 2.2), (-4.4, 1.6)]
SELECTION = ("chelsea", "rocket")
ACCEPTANCE = ("astronaut", "coffee")
BLURS = (0.0, 0.5, 0.75, 1.0, 1.5)


def image(name: str) -> np.ndarray:
    return getattr(data, name)().transpose(2, 0, 1).astype(np.float64) / 255.0


def dis_tables(seeds: int) -> None:
    clips = {
        (name, s, seed): translated_clip(image(name), *s, SIGMA, seed)
        for name in SELECTION + ACCEPTANCE
        for s in SMALL + LARGE
        for seed in range(seeds)
    }
    default = DISFlow()
    print(f"DIS mean interior EPE (px), sigma 30/255, shifts {SMALL + LARGE}, {seeds} noise seeds")
    print(f"default: preset={default.preset!r}, blur_sigma={default.blur_sigma}")
    print("| preset | blur | " + " | ".join(SELECTION + ACCEPTANCE) + " |")
    print("|---|---|" + "---|" * len(SELECTION + ACCEPTANCE))
    for preset in PRESETS:
        for blur in BLURS:
            est = DISFlow(preset, blur)
            row = [
                np.mean([clip_epe(est, c, *s) for (n, s, _), c in clips.items() if n == name])
                for name in SELECTION + ACCEPTANCE
            ]
            print(f"| {preset} | {blur} | " + " | ".join(f"{v:.3f}" for v in row) + " |", flush=True)
    print("\nDefault DIS per shift (acceptance: < 0.6 px):")
    for name in ACCEPTANCE:
        for s in SMALL + LARGE:
            epe = np.mean([clip_epe(default, clips[(name, s, seed)], *s) for seed in range(seeds)])
            print(f"  {name:9s} shift ({s[0]:+.2f}, {s[1]:+.2f}) px: EPE {epe:.3f} px")


def pwc_speed(sizes: list[tuple[int, int]]) -> None:
    torch.manual_seed(0)
    est = PWCFlow().eval()
    print(f"\nPWC-Net on CPU ({torch.get_num_threads()} threads), 2-frame clip = both directions of one pair:")
    for h, w in sizes:
        clip = torch.rand(1, 2, 3, h, w)
        with torch.no_grad():
            est(clip)
            t = time.perf_counter()
            est(clip)
        print(f"  {h}x{w}: {time.perf_counter() - t:.2f} s")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="one noise seed and small PWC sizes only")
    args = parser.parse_args()
    dis_tables(seeds=1 if args.quick else 3)
    pwc_speed([(64, 64), (96, 96)] if args.quick else [(64, 64), (96, 96), (540, 960)])


if __name__ == "__main__":
    main()
