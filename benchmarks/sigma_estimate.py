"""``stbn denoise --sigma auto`` on the project's real video: the estimated noise level against the true one,
and what denoising with the estimate instead of the true level costs in PSNR.

Clips: every clip of the real-video sets, as :func:`stbn.data.corpus.clean_clips` loads them (materialised
under ``--data`` first when needed), each labelled with its role in :data:`stbn.data.corpus.ROLES`: ``test``
(the embedded sRGB test clips bikes-fence and carphone), ``train`` (``embedded-corpus-train``: the corpus
training clips and the four bikes training shots) and ``heldout`` (``embedded-corpus-heldout``).

For each clip, sigma and noise seed the noisy clip is what a user's 16-bit file would hold: clean + AWGN
(seed 0 is the paper's fixed test noise, :func:`stbn.data.noise.add_awgn_test`, as ``fit_vs_bm3d.py`` adds
it; seed ``s > 0`` the same ``N(0, sigma^2)`` from a generator seeded ``s``), clipped to [0, 1] and quantised
to 16 bits as ``fit_vs_bm3d.py``'s PNG frames are. The noise level is estimated exactly as ``--sigma auto``
does: :func:`stbn.data.noise_estimate.estimate_sigma` on the first
:data:`stbn.commands.denoise.SIGMA_FRAMES` frames at full size. Printed beside it: the clean clip's own
estimate (the noise already in the footage: compression residue, sensor noise, film grain) and the estimate
on the same noise left unclipped (what clipping at 0 and 1 does to the estimate). The summary gives per
sigma the bias (mean relative error) and the mean and worst relative error over the clips.

PSNR cost: colour BM3D per frame (``bm3d`` of :mod:`stbn.evaluation.baselines`) on ``--frames`` frames
spread over the clip, centre-cropped to at most ``--size`` pixels, given the true sigma and given the
estimate, for the first of ``--seeds`` only (BM3D is the slow part: about 2.5 s per 128x128 frame on one
core). With ``--checkpoint`` a noise-conditional sRGB checkpoint denoises the same crops too, through
:func:`stbn.evaluation.protocol.denoise_sequence` (``stbn evaluate``'s call of :func:`stbn.engine.denoise`).
The cost is the true-sigma PSNR minus the estimated-sigma PSNR (positive: the estimate loses).

    .venv/bin/python benchmarks/sigma_estimate.py --json /tmp/sigma_estimate.json      # docs/fitting.md
    .venv/bin/python benchmarks/sigma_estimate.py --clips carphone lego --sigmas 10 40 --seeds 0   # seconds
    .venv/bin/python benchmarks/sigma_estimate.py --checkpoint MODEL.pt --frames 3 --size 256
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
from collections.abc import Callable
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))
from fit_vs_bm3d import mean_psnr, run_baseline  # noqa: E402

from stbn.commands.denoise import SIGMA_FRAMES  # noqa: E402
from stbn.config import unit_sigma  # noqa: E402
from stbn.data import corpus  # noqa: E402
from stbn.data.noise import add_awgn_test, awgn  # noqa: E402
from stbn.data.noise_estimate import estimate_sigma  # noqa: E402
from stbn.hardware import machine_line  # noqa: E402

SIGMAS = (5.0, 10.0, 15.0, 20.0, 30.0, 40.0, 50.0)
SEEDS = (0, 1)
Denoiser = Callable[[np.ndarray, np.ndarray, float], float]
"""``(clean crops, noisy crops, sigma_255) -> PSNR``: one method denoising the crops with a given level."""


def parse_args() -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--clips", nargs="+", help="clip names (default: every clip of the three sets)")
    p.add_argument("--sigmas", nargs="+", type=float, default=list(SIGMAS), help="true noise std (/255)")
    p.add_argument("--seeds", nargs="+", type=int, default=list(SEEDS), help="noise seeds (PSNR: the first only)")
    p.add_argument("--frames", type=int, default=1, help="frames per clip denoised for the PSNR cost (0: none)")
    p.add_argument("--size", type=int, default=128, help="centre crop of those frames to at most SIZE x SIZE")
    p.add_argument("--checkpoint", type=Path, help="also a noise-conditional sRGB STBN checkpoint")
    p.add_argument("--data", type=Path, default=corpus.DEFAULT_ROOT, help="datasets root (default %(default)s)")
    p.add_argument("--json", type=Path, help="save the rows and the summary here")
    return p.parse_args()


# ----------------------------------------------------------------------------- frames
def with_noise(clean: np.ndarray, sigma_255: float, seed: int) -> np.ndarray:
    """``clean`` ``(T, H, W, 3)`` + AWGN of ``seed`` (0: the paper's test noise), unclipped."""
    x = torch.from_numpy(clean)
    if seed == 0:
        return add_awgn_test(x, sigma_255, channels_last=True).numpy()
    return awgn(x, unit_sigma(sigma_255), generator=torch.Generator().manual_seed(seed)).numpy()


def as_16bit_file(frames: np.ndarray) -> np.ndarray:
    """``frames`` clipped to [0, 1] and quantised to 16 bits, as a 16-bit PNG holds them
    (``stbn.data.io.write_frames`` then ``read_sequence``)."""
    return (np.round(np.clip(frames, 0.0, 1.0) * 65535.0) / 65535.0).astype(np.float32)


def auto_sigma(noisy: np.ndarray) -> float:
    """The noise std (/255) that ``stbn denoise --sigma auto`` estimates from these frames ``(T, H, W, C)``."""
    return estimate_sigma(noisy[:SIGMA_FRAMES]) * 255.0


def crops(frames: np.ndarray, count: int, size: int) -> np.ndarray:
    """``count`` frames spread evenly over the clip (never its first or last), centre-cropped to ``size``."""
    idx = np.linspace(0, len(frames) - 1, count + 2)[1:-1].round().astype(int)
    h, w = frames.shape[1:3]
    top, left = max(0, (h - size) // 2), max(0, (w - size) // 2)
    return frames[idx, top : top + size, left : left + size]


# ----------------------------------------------------------------------------- methods
def bm3d_psnr(clean: np.ndarray, noisy: np.ndarray, sigma_255: float) -> float:
    """PSNR of per-frame colour BM3D given ``sigma_255``."""
    return run_baseline("bm3d", clean, noisy, sigma_255)["psnr"]


def checkpoint_method(path: Path) -> Denoiser:
    """The PSNR of a noise-conditional sRGB checkpoint denoising crops as ``stbn evaluate`` does."""
    from stbn.checkpoint import load_model
    from stbn.evaluation.protocol import EvalSequence, denoise_sequence

    net, cfg, _ = load_model(path, "cpu", kind="srgb")
    if not (net.head_kind == "gaussian" or net.uses_noise_map):
        raise SystemExit(f"{path}: the model takes no noise level, so the estimate cannot change its output")

    def psnr(clean: np.ndarray, noisy: np.ndarray, sigma_255: float) -> float:
        with torch.no_grad():
            den = denoise_sequence(net, EvalSequence("crops", clean, noisy, unit_sigma(sigma_255)), cfg)
        return mean_psnr(clean, den)

    return psnr


# ----------------------------------------------------------------------------- measurement
def measure_clip(
    name: str,
    role: str,
    clean: np.ndarray,
    sigmas: list[float],
    seeds: list[int],
    frames: int,
    size: int,
    methods: dict[str, Denoiser],
) -> list[dict]:
    """One row per sigma: the clean clip's estimate, the estimate per seed of the noisy file and (mean over the
    seeds) of the same noise unclipped, and per method the PSNR of ``frames`` crops of the first seed's noisy
    file denoised with the true sigma and with that seed's estimate."""
    clean_sigma = auto_sigma(clean)
    rows = []
    for sigma in sigmas:
        unclipped = {seed: with_noise(clean, sigma, seed) for seed in seeds}
        noisy = {seed: as_16bit_file(x) for seed, x in unclipped.items()}
        estimates = [auto_sigma(noisy[seed]) for seed in seeds]
        mean = statistics.fmean(estimates)
        row = {"clip": name, "role": role, "size": list(clean.shape[1:3]), "sigma": sigma,
               "clean_estimate": clean_sigma, "estimates": estimates, "estimate": mean,
               "rel_error": (mean - sigma) / sigma,
               "estimate_unclipped": statistics.fmean(auto_sigma(x) for x in unclipped.values()), "psnr": {}}
        if frames:
            clean_crops, noisy_crops = crops(clean, frames, size), crops(noisy[seeds[0]], frames, size)
            for method, psnr in methods.items():
                true, est = psnr(clean_crops, noisy_crops, sigma), psnr(clean_crops, noisy_crops, estimates[0])
                row["psnr"][method] = {"true": true, "estimated": est, "cost": true - est}
        rows.append(row)
    return rows


def summarise(rows: list[dict]) -> list[dict]:
    """Per sigma over the clips: the mean relative error (the bias), its mean and worst magnitude, the mean
    magnitude on unclipped noise, and per method the mean and worst PSNR cost."""
    out = []
    for sigma in sorted({r["sigma"] for r in rows}):
        group = [r for r in rows if r["sigma"] == sigma]
        worst = max(group, key=lambda r: abs(r["rel_error"]))
        entry = {"sigma": sigma, "clips": len(group), "mean_rel_error": statistics.fmean(r["rel_error"] for r in group),
                 "mean_abs_rel_error": statistics.fmean(abs(r["rel_error"]) for r in group),
                 "worst_rel_error": worst["rel_error"], "worst_clip": worst["clip"],
                 "mean_abs_rel_error_unclipped": statistics.fmean(
                     abs(r["estimate_unclipped"] - sigma) / sigma for r in group), "psnr_cost": {}}
        for method in group[0]["psnr"]:
            costs = {r["clip"]: r["psnr"][method]["cost"] for r in group}
            clip = max(costs, key=costs.get)
            entry["psnr_cost"][method] = {"mean": statistics.fmean(costs.values()), "worst": costs[clip],
                                          "worst_clip": clip}
        out.append(entry)
    return out


# ----------------------------------------------------------------------------- report
def print_rows(rows: list[dict]) -> None:
    """The per-clip table: true sigma, estimates, relative error and, per method, the two PSNRs."""
    methods = list(rows[0]["psnr"]) if rows else []
    head = f"{'clip':<18}{'role':<9}{'size':>9}{'clean':>7}{'sigma':>7}{'est':>7}{'rel err':>9}{'unclipped':>10}"
    head += "".join(f"{m + ' true':>13}{m + ' est':>12}{'cost':>7}" for m in methods)
    print(head)
    for r in rows:
        line = (f"{r['clip']:<18}{r['role']:<9}{'x'.join(map(str, r['size'])):>9}{r['clean_estimate']:7.2f}"
                f"{r['sigma']:7g}{r['estimate']:7.2f}{100 * r['rel_error']:8.1f}%{r['estimate_unclipped']:10.2f}")
        for m in methods:
            p = r["psnr"][m]
            line += f"{p['true']:13.2f}{p['estimated']:12.2f}{p['cost']:7.2f}"
        print(line)


def print_summary(summary: list[dict]) -> None:
    """Per sigma: bias, mean and worst relative error (and the mean on unclipped noise), mean and worst PSNR
    cost per method."""
    methods = list(summary[0]["psnr_cost"]) if summary else []
    head = f"\n{'sigma':>5}{'clips':>6}{'bias':>8}{'mean |rel err|':>16}  {'worst rel err':<28}{'unclipped':>10}"
    print(head + "".join(f"{m + ' cost: mean':>18}  {'worst':<24}" for m in methods).rstrip())
    for s in summary:
        worst = f"{100 * s['worst_rel_error']:+.1f}% ({s['worst_clip']})"
        line = (f"{s['sigma']:5g}{s['clips']:6d}{100 * s['mean_rel_error']:+7.1f}%"
                f"{100 * s['mean_abs_rel_error']:15.1f}%  {worst:<28}{100 * s['mean_abs_rel_error_unclipped']:9.1f}%")
        for m in methods:
            c = s["psnr_cost"][m]
            line += f"{c['mean']:15.3f} dB  {c['worst']:+.3f} dB ({c['worst_clip']})".ljust(44)
        print(line.rstrip())


def main() -> None:
    args = parse_args()
    machine = machine_line()
    print(machine, flush=True)
    methods: dict[str, Denoiser] = {"bm3d": bm3d_psnr}
    if args.checkpoint:
        methods["stbn"] = checkpoint_method(args.checkpoint)
    clips = [c for split in ("tune", "heldout") for c in corpus.clean_clips(split, args.data)]
    if args.clips:
        unknown = set(args.clips) - {name for name, _ in clips}
        if unknown:
            raise SystemExit(f"unknown clips: {', '.join(sorted(unknown))}")
        clips = [c for c in clips if c[0] in args.clips]
    rows = []
    for name, clean in clips:
        rows += measure_clip(name, corpus.ROLES[name], clean, args.sigmas, args.seeds, args.frames, args.size,
                             methods)
        print(f"{name}: done", file=sys.stderr, flush=True)
    print_rows(rows)
    summary = summarise(rows)
    print_summary(summary)
    if args.json:
        args.json.write_text(json.dumps({"machine": machine, "command": sys.argv, "rows": rows, "summary": summary},
                                        indent=1))


if __name__ == "__main__":
    main()
