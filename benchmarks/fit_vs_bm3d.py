"""Self-supervised STBN fitted within a wall-time budget against per-frame BM3D and non-local means.

For each clip of the embedded sRGB test set (at most ``--frames`` frames, centre-cropped to at most
``--size`` pixels; the embedded clips are 320x136 and 176x144, so they stay whole) and each sigma, the
noisy frames are the paper's protocol (clean + seed-0 AWGN, :func:`stbn.data.noise.add_awgn_test`),
clipped to [0, 1] and stored as 16-bit PNG, as a user's footage would be; every method reads those same
frames back. Then:

- ``stbn denoise NOISY -o OUT --sigma S --fit-minutes M --preset P`` runs as a subprocess per minutes
  budget and seed, timed end to end (start-up, reading, flows, fitting, final inference, writing), with
  the 1-minute load average sampled while it runs;
- ``bm3d`` (colour BM3D per frame, sigma given) and the non-local means baselines of
  :mod:`stbn.evaluation.baselines` run in this process, timed per frame.

PSNR is per frame on float [0, 1] against the clean frames, averaged over the frames. Every result is a
JSON file under ``RESULTS/runs`` named by clip, sigma, preset, ``--set`` overrides, minutes and seed
(existing ones are reused, so runs can be added later or run in parallel lanes; the name does not see a
preset's contents, so after changing a preset use a fresh ``--results``); the script prints the table and
saves ``RESULTS/psnr_vs_minutes_sigma<S>.png`` (STBN against the budget, a curve per variant and seed,
baselines as horizontal lines).

    .venv/bin/python benchmarks/fit_vs_bm3d.py --minutes 30                        # acceptance 1
    .venv/bin/python benchmarks/fit_vs_bm3d.py --clips bikes-fence --minutes 5 10 20 30
    .venv/bin/python benchmarks/fit_vs_bm3d.py --sigmas 10 50 --minutes 10
    .venv/bin/python benchmarks/fit_vs_bm3d.py --seeds 1 --minutes 30
    .venv/bin/python benchmarks/fit_vs_bm3d.py --report-only                       # table and figure
"""

from __future__ import annotations

import argparse
import json
import os
import re
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

DEFAULT_RESULTS = Path(tempfile.gettempdir()) / "stbn-fit-vs-bm3d"
BASELINES = ("noisy", "bm3d", "nlm-opencv", "nlm-skimage")


def parse_args() -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--clips", nargs="+", default=["bikes-fence", "carphone"], help="embedded test clips")
    p.add_argument("--frames", type=int, default=20, help="first frames of each clip")
    p.add_argument("--size", type=int, default=256, help="centre crop to at most SIZE x SIZE")
    p.add_argument("--sigmas", nargs="+", type=float, default=[30.0], help="noise std (/255)")
    p.add_argument("--minutes", nargs="*", type=float, default=[30.0],
                   help="--fit-minutes budgets (none: baselines only)")
    p.add_argument("--seeds", nargs="+", type=int, default=[0], help="train.seed of the fitted model")
    p.add_argument("--preset", default="cpu-fit", help="stbn denoise --preset")
    p.add_argument("--set", dest="overrides", action="append", default=[], metavar="KEY=VALUE",
                   help="extra stbn denoise --set (recorded with the run)")
    p.add_argument("--threads", type=int, default=0,
                   help="threads of each stbn denoise (OMP_NUM_THREADS and train.threads; 0: torch's default), "
                   "e.g. 1 per run when runs share the cores")
    p.add_argument("--baselines", nargs="*", default=list(BASELINES), choices=BASELINES)
    p.add_argument("--results", type=Path, default=DEFAULT_RESULTS, help="results folder (default %(default)s)")
    p.add_argument("--data", type=Path, help="embedded datasets root (default RESULTS/data)")
    p.add_argument("--report-only", action="store_true", help="no runs: table and figure from stored results")
    return p.parse_args()


# ----------------------------------------------------------------------------- frames
def clean_clip(data_root: Path, clip: str, frames: int, size: int) -> np.ndarray:
    """The first ``frames`` clean frames ``(T, H, W, 3)`` of an embedded test clip, centre-cropped to ``size``."""
    from stbn.data.embedded import materialise
    from stbn.data.io import read_sequence

    clean = read_sequence(materialise(data_root)["embedded-srgb-test"] / clip, frames)
    h, w = clean.shape[1:3]
    top, left = max(0, (h - size) // 2), max(0, (w - size) // 2)
    return clean[:, top : top + size, left : left + size]


def noisy_folder(clean: np.ndarray, sigma: float, folder: Path) -> np.ndarray:
    """Write the protocol's noisy frames (clipped, 16-bit PNG) to ``folder`` once; return them as read back."""
    import torch

    from stbn.data.io import read_sequence, write_frames
    from stbn.data.noise import add_awgn_test

    if not folder.is_dir():
        write_frames(add_awgn_test(torch.from_numpy(clean), sigma, channels_last=True).numpy(), folder, bit_depth=16)
    return read_sequence(folder)


def mean_psnr(clean: np.ndarray, denoised: np.ndarray) -> float:
    """PSNR per frame, averaged over the frames."""
    from stbn.evaluation.metrics import frame_psnr

    return float(np.mean([frame_psnr(c, d) for c, d in zip(clean, denoised)]))


# ----------------------------------------------------------------------------- runs
def variant(preset: str, overrides: list[str]) -> str:
    """The fitted method: the preset and its ``--set`` overrides (``cpu-fit data.crop=56``)."""
    return " ".join([preset, *overrides])


def run_name(clip: str, sigma: float, method: str, minutes: float, seed: int) -> str:
    """File stem of an STBN run's result, output folder and log; ``method`` is :func:`variant`'s, so runs
    with different overrides never share a result."""
    return f"{clip}_s{sigma:g}_{method.replace(' ', '_').replace('=', '-')}_m{minutes:g}_seed{seed}"


def fit_facts(log: Path) -> tuple[str, str]:
    """Fitting steps done (the last progress-bar update) and the final pass's ensemble (as ``stbn denoise``
    printed it; the budget may have halved the shift ensemble) from a run's log; "" where not found."""
    text = log.read_text(errors="replace") if log.is_file() else ""
    counts = re.findall(r"fit: (\d+)step", text)
    ensemble = re.findall(r"final pass ensemble: ([^\r\n]*)", text)
    return (counts[-1] if counts else ""), (ensemble[-1].strip() if ensemble else "")


def run_baseline(method: str, clean: np.ndarray, noisy: np.ndarray, sigma: float) -> dict:
    """One baseline over the clip: PSNR and per-frame seconds."""
    from stbn.evaluation.baselines import denoise_sequence

    outs = list(denoise_sequence(noisy, sigma, method))
    den = np.stack([frame for frame, _ in outs])
    return {"psnr": mean_psnr(clean, den), "seconds": sum(s for _, s in outs), "load": os.getloadavg()[0]}


def run_stbn(noisy_dir: Path, out_dir: Path, sigma: float, minutes: float, seed: int, args: argparse.Namespace) -> dict:
    """``stbn denoise`` as a subprocess, timed end to end, the load average sampled every 5 s."""
    stbn = Path(sys.executable).with_name("stbn")
    cmd = [str(stbn), "denoise", str(noisy_dir), "-o", str(out_dir), "--sigma", f"{sigma:g}",
           "--fit-minutes", f"{minutes:g}", "--preset", args.preset, "--bit-depth", "16", "--device", "cpu",
           "--set", f"train.seed={seed}"]
    for item in args.overrides + ([f"train.threads={args.threads}"] if args.threads else []):
        cmd += ["--set", item]
    env = {**os.environ, "OMP_NUM_THREADS": str(args.threads)} if args.threads else None
    log = out_dir.parent / f"{out_dir.name}.log"
    log.parent.mkdir(parents=True, exist_ok=True)
    loads = []
    start = time.monotonic()
    with log.open("w") as f:
        proc = subprocess.Popen(cmd, stdout=f, stderr=subprocess.STDOUT, env=env)
        while proc.poll() is None:
            loads.append(os.getloadavg()[0])
            time.sleep(5)
    seconds = time.monotonic() - start
    if proc.returncode:
        raise SystemExit(f"{' '.join(cmd)} failed ({proc.returncode}); see {log}")
    return {"seconds": seconds, "load_mean": statistics.fmean(loads), "load_max": max(loads), "command": cmd}


def collect(args: argparse.Namespace) -> None:
    """Run every missing result and store it under ``RESULTS/runs``."""
    from stbn.data.io import read_sequence

    runs = args.results / "runs"
    runs.mkdir(parents=True, exist_ok=True)
    method = variant(args.preset, args.overrides)
    for clip in args.clips:
        clean = clean_clip(args.data or args.results / "data", clip, args.frames, args.size)
        for sigma in args.sigmas:
            key = {"clip": clip, "sigma": sigma, "frames": len(clean), "size": list(clean.shape[1:3])}
            noisy_dir = args.results / "noisy" / f"{clip}-s{sigma:g}"
            noisy = noisy_folder(clean, sigma, noisy_dir)
            for baseline in args.baselines:
                path = runs / f"{clip}_s{sigma:g}_{baseline}.json"
                if not path.exists():
                    result = run_baseline(baseline, clean, noisy, sigma)
                    path.write_text(json.dumps({**key, "method": baseline, **result}))
                    print(f"{clip} sigma {sigma:g} {baseline}: {result['psnr']:.2f} dB", flush=True)
            for minutes in args.minutes:
                for seed in args.seeds:
                    name = run_name(clip, sigma, method, minutes, seed)
                    path = runs / f"{name}.json"
                    if path.exists():
                        continue
                    out_dir = args.results / "out" / name
                    result = run_stbn(noisy_dir, out_dir, sigma, minutes, seed, args)
                    result["psnr"] = mean_psnr(clean, read_sequence(out_dir))
                    record = {**key, "method": method, "minutes": minutes, "seed": seed,
                              "overrides": args.overrides, "threads": args.threads, **result}
                    path.write_text(json.dumps(record))
                    print(f"{name}: {result['psnr']:.2f} dB in {result['seconds'] / 60:.2f} min "
                          f"(load {result['load_mean']:.2f} mean, {result['load_max']:.2f} max)", flush=True)


# ----------------------------------------------------------------------------- report
def load_results(results: Path) -> list[dict]:
    """Every stored result."""
    return [json.loads(p.read_text()) for p in sorted((results / "runs").glob("*.json"))]


def print_table(rows: list[dict], results: Path) -> None:
    """Per clip and sigma: the baselines, then every STBN run with its wall time, fitting steps, margin over
    BM3D and final-pass ensemble."""
    for clip, sigma in sorted({(r["clip"], r["sigma"]) for r in rows}):
        group = [r for r in rows if (r["clip"], r["sigma"]) == (clip, sigma)]
        base = {r["method"]: r for r in group if "minutes" not in r}
        bm3d = base.get("bm3d", {}).get("psnr")
        size = "x".join(map(str, group[0]["size"]))
        fits = sorted((r for r in group if "minutes" in r), key=lambda r: (r["method"], r["minutes"], r["seed"]))
        labels = [f"{r['method']} {r['minutes']:g} min seed {r['seed']}" for r in fits]
        width = max(map(len, [*labels, *base])) + 2
        print(f"\n{clip} ({group[0]['frames']} frames, {size}), sigma {sigma:g}")
        print(f"  {'method':<{width}}{'PSNR':>8}{'vs BM3D':>9}{'wall s':>9}{'load':>7}{'steps':>7}  final pass")
        for method, r in base.items():
            delta = f"{r['psnr'] - bm3d:+.2f}" if bm3d is not None else ""
            print(f"  {method:<{width}}{r['psnr']:8.2f}{delta:>9}{r['seconds']:9.1f}{r['load']:7.2f}")
        for r, label in zip(fits, labels):
            delta = f"{r['psnr'] - bm3d:+.2f}" if bm3d is not None else ""
            ok = "" if r["seconds"] <= 60 * r["minutes"] else "  OVER BUDGET"
            log = results / "out" / f"{run_name(clip, sigma, r['method'], r['minutes'], r['seed'])}.log"
            steps, ensemble = fit_facts(log)
            print(f"  {label:<{width}}{r['psnr']:8.2f}{delta:>9}{r['seconds']:9.1f}{r['load_mean']:7.2f}{steps:>7}"
                  f"  {ensemble}{ok}")


def save_figures(rows: list[dict], results: Path) -> list[Path]:
    """One PSNR-vs-minutes figure per sigma: a panel per clip, baselines as horizontal lines."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    paths = []
    for sigma in sorted({r["sigma"] for r in rows if "minutes" in r}):
        clips = sorted({r["clip"] for r in rows if r["sigma"] == sigma and "minutes" in r})
        fig, axes = plt.subplots(1, len(clips), figsize=(5 * len(clips), 4), squeeze=False)
        for ax, clip in zip(axes[0], clips):
            group = [r for r in rows if (r["clip"], r["sigma"]) == (clip, sigma)]
            fits = [r for r in group if "minutes" in r]
            for method, seed in sorted({(r["method"], r["seed"]) for r in fits}):
                pts = sorted((r["minutes"], r["psnr"]) for r in fits if (r["method"], r["seed"]) == (method, seed))
                ax.plot(*zip(*pts), "o-", label=f"STBN {method}, seed {seed}")
            for r, style in zip((r for r in group if "minutes" not in r and r["method"] != "noisy"), ("--", ":", "-.")):
                ax.axhline(r["psnr"], linestyle=style, color="grey" if r["method"] != "bm3d" else "black",
                           label=f"{r['method']} ({r['psnr']:.2f} dB)")
            load = f"load {min(r['load_mean'] for r in fits):.1f}-{max(r['load_mean'] for r in fits):.1f}"
            ax.set(title=f"{clip}, sigma {sigma:g} ({load} on {os.cpu_count()} cores)",
                   xlabel="stbn denoise --fit-minutes (wall time)",
                   ylabel="PSNR (dB)", xlim=(0, 1.05 * max(r["minutes"] for r in fits)))
            ax.grid(alpha=0.3)
            ax.legend(fontsize=8)
        fig.tight_layout()
        path = results / f"psnr_vs_minutes_sigma{sigma:g}.png"
        fig.savefig(path, dpi=120)
        plt.close(fig)
        paths.append(path)
    return paths


def main() -> None:
    args = parse_args()
    if not args.report_only:
        collect(args)
    rows = load_results(args.results)
    print_table(rows, args.results)
    for path in save_figures(rows, args.results):
        print(f"figure: {path}")


if __name__ == "__main__":
    main()
