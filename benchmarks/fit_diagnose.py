"""Why a fit lost on a clip: the diagnostics of docs/fitting.md ("On the held-out clips").

For one clip of a ``fit_vs_bm3d.py`` results folder (its clean crop, its stored noisy frames and, with
``--output``, a denoised frame folder) prints:

- the PSNR of the plain temporal mean of the noisy frames (what a static scene gives away);
- the ceiling of an estimator of the clipped noisy mean: the PSNR of E[clip(x + n, 0, 1)] against x, n ~ N(0,
  sigma^2), computed exactly (:func:`clipped_mean`); the noisy files are clipped to [0, 1];
- the clean clip's fine detail: the PSNR of the clean frames blurred by a Gaussian of std 1 pixel;
- with ``--output``: the output's PSNR, the PSNR of its temporal mean against the clean temporal mean (an error
  constant in time), and its bias and RMSE per band of clean values;
- with ``--checkpoint`` (a ``stbn denoise --save-model`` file): one whole-clip pass without ensembles, as the
  posterior mean and as the network's prior mean alone; the posterior in time windows of the fit's training
  clip length (``infer.time_window``) starting every half window and every frame: a recurrence trained on
  clips of that length that drifts on longer ones scores higher there; and where the model looks
  (:func:`stbn.analysis.blindness.lattice_shares`).

    .venv/bin/python benchmarks/fit_diagnose.py lego --dataset embedded-corpus-heldout \\
        --results /tmp/stbn-fit-vs-bm3d --output /tmp/stbn-fit-vs-bm3d/out/lego_s30_cpu-fit_m30_seed0
"""

from __future__ import annotations

import argparse
import math
import sys
from pathlib import Path
from unittest import mock

import numpy as np
import torch
from scipy.ndimage import gaussian_filter
from scipy.stats import norm

from stbn.analysis.blindness import lattice_shares
from stbn.data.io import read_sequence
from stbn.errors import StbnError
from stbn.evaluation.metrics import psnr


def clipped_mean(x: np.ndarray, sigma: float) -> np.ndarray:
    """E[clip(x + n, 0, 1)] for n ~ N(0, sigma^2), elementwise (x on the [0, 1] scale)."""
    a, b = -x / sigma, (1.0 - x) / sigma
    inside = x * (norm.cdf(b) - norm.cdf(a)) + sigma * (norm.pdf(a) - norm.pdf(b))
    return inside + norm.sf(b)


def bands(clean: np.ndarray, est: np.ndarray) -> list[tuple[float, float, float, float]]:
    """Per band [lo, lo + 0.1) of clean values: (lo, share of values, mean error, RMSE)."""
    x, e = clean.ravel(), (est - clean).ravel()
    out = []
    for lo in np.arange(0.0, 1.0, 0.1):
        m = (x >= lo) & (x < lo + 0.1) if lo < 0.9 else x >= lo
        if m.any():
            out.append((float(lo), float(m.mean()), float(e[m].mean()), float(np.sqrt((e[m] ** 2).mean()))))
    return out


def whole_pass(
    net: torch.nn.Module, noisy: np.ndarray, sigma: float, time_window: int = 0, stride: int = 0
) -> np.ndarray:
    """The engine's whole-clip pass over ``noisy`` ``(T, H, W, C)``, no ensemble, fp32, in time windows of
    ``time_window`` frames every ``stride`` (``infer.time_window``, ``infer.window_stride``): ``(T, H, W, C)``."""
    from stbn.config import InferConfig
    from stbn.engine import schedule
    from stbn.engine.speed import REFERENCE

    frames = [torch.from_numpy(f).permute(2, 0, 1)[None] for f in noisy.astype(np.float32)]
    infer = InferConfig(streaming=False, time_window=time_window, window_stride=stride)
    outs = schedule.denoise(net, iter(frames), sigma, infer, REFERENCE)
    return np.stack([o[0].permute(1, 2, 0).numpy() for o in outs]).astype(np.float64)


def model_passes(net: torch.nn.Module, noisy: np.ndarray, sigma: float) -> tuple[np.ndarray, np.ndarray]:
    """One whole-clip pass, no ensemble: (posterior mean, prior mean), both (T, H, W, C) clamped to [0, 1]."""
    from stbn.engine import schedule

    posterior = whole_pass(net, noisy, sigma)
    # the schedule has one place that turns a Gaussian head into an estimate; the prior mean is its first C channels
    with mock.patch.object(schedule, "posterior_mean", lambda out, noisy, sigma: out[:, :, : noisy.shape[2]]):
        prior = whole_pass(net, noisy, sigma)
    return posterior, prior


def main() -> None:
    sys.path.insert(0, str(Path(__file__).parent))
    import fit_vs_bm3d as bench  # the same clips, crops and results folder

    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("clip")
    parser.add_argument("--dataset", default=bench.embedded.TEST, choices=sorted(bench.DATASETS))
    parser.add_argument("--sigma", type=float, default=30.0)
    parser.add_argument("--frames", type=int, default=20)
    parser.add_argument("--size", type=int, default=256)
    parser.add_argument("--results", type=Path, default=bench.DEFAULT_RESULTS, help="fit_vs_bm3d.py results folder")
    parser.add_argument("--data", type=Path, default=bench.DEFAULT_DATA)
    parser.add_argument("--output", type=Path, help="a denoised frame folder of the clip")
    parser.add_argument("--checkpoint", type=Path, help="a model fitted on the clip (stbn denoise --save-model)")
    args = parser.parse_args()

    sigma = args.sigma / 255.0
    try:
        clean = bench.clean_clip(args.data, args.clip, args.frames, args.size, args.dataset).astype(np.float64)
    except StbnError as exc:  # e.g. a clip of another --dataset
        raise SystemExit(f"fit_diagnose: {exc}") from None
    noisy_dir = args.results / "noisy" / f"{args.clip}-s{args.sigma:g}"
    if not noisy_dir.is_dir():
        raise SystemExit(f"{noisy_dir}: no noisy frames (run fit_vs_bm3d.py for this clip and sigma first)")
    noisy = read_sequence(noisy_dir).astype(np.float64)
    print(f"{args.clip}, sigma {args.sigma:g}, {clean.shape[0]} frames of {clean.shape[1]}x{clean.shape[2]}")
    print(f"  temporal mean of the noisy frames: {psnr(np.broadcast_to(noisy.mean(0), clean.shape), clean):.2f} dB")
    print(f"  clipped-mean ceiling: {psnr(clipped_mean(clean, sigma), clean):.2f} dB "
          f"(values < 0.05: {np.mean(clean < 0.05):.3f}, > 0.95: {np.mean(clean > 0.95):.3f}; "
          f"bias at 0: {sigma / math.sqrt(2 * math.pi):+.4f})")
    print(f"  clean blurred by a Gaussian of std 1 px: {psnr(gaussian_filter(clean, (0, 1, 1, 0)), clean):.2f} dB")
    estimates = {}
    if args.output:
        estimates["output"] = read_sequence(args.output).astype(np.float64)
    if args.checkpoint:
        from stbn.checkpoint import load_model

        net, cfg, _ = load_model(args.checkpoint)
        estimates["posterior, no ensemble"], estimates["prior mean, no ensemble"] = model_passes(net, noisy, sigma)
        length = cfg.data.clip_length
        for stride in (0, 1):
            name = f"posterior, time windows of {length} frames every {stride or -(-length // 2)}, no ensemble"
            estimates[name] = whole_pass(net, noisy, sigma, length, stride)
        print("  where the model looks (zero flow; frame offset: share of the gradient, share of it on q's lattice):")
        for offset, share, on_lattice in lattice_shares(net, frames=length):
            print(f"    {offset:+d}: {share:.3f}, {on_lattice:.3f}")
    for name, est in estimates.items():
        print(f"  {name}: {psnr(est, clean):.2f} dB; temporal mean vs clean temporal mean "
              f"{psnr(est.mean(0), clean.mean(0)):.2f} dB")
        for lo, share, bias, rmse in bands(clean, est):
            print(f"    clean {lo:.1f}-{lo + 0.1:.1f} ({share:.3f}): bias {bias:+.4f}, RMSE {rmse:.4f}")


if __name__ == "__main__":
    main()
