"""Self-supervised STBN fitted within a wall-time budget against per-frame BM3D and non-local means.

For each clip of ``--dataset`` (``--clips``, default every sequence folder of the dataset) at most
``--frames`` frames, centre-cropped to at most ``--size`` pixels, and each sigma, the noisy frames are the
paper's protocol (clean + seed-0 AWGN, :func:`stbn.data.noise.add_awgn_test`), clipped to [0, 1] and stored
as 16-bit PNG, as a user's footage would be; every method reads those same frames back. Datasets
(:data:`DATASETS`), read from ``--data``, default the workflow's ``resources/datasets``, and materialised
there when missing (no download: the corpus's sources are those ``scripts/setup.sh`` fetched). Sizes are
height x width, as the table prints them:

- ``embedded-srgb-test`` (default): the workflow's test clips bikes-fence (136x320) and carphone (144x176),
  25 frames each; the ``cpu-fit`` recipe was tuned on them. With the defaults (20 frames, 256) bikes-fence
  becomes 136x256 and carphone stays whole.
- ``embedded-corpus-heldout``: the held-out corpus clips (:data:`stbn.data.corpus.HELDOUT_CLIPS`, never
  trained or tuned on), 30 frames each: coin-pen 160x280, diver 240x320, lego 256x256, pens 144x176.
  With the defaults a held-out run uses the first 20 frames of each at coin-pen 160x256, diver 240x256,
  lego 256x256 and pens 144x176 (coin-pen and diver lose their sides to the centre crop).
- ``embedded-corpus-train``: the corpus training clips and the four bikes training shots.

Then:

- ``stbn denoise NOISY -o OUT --sigma S --fit-minutes M --preset P`` (or ``--checkpoint START``: a fit from a
  start model, the method ``from-<name>``) runs as a subprocess per minutes budget and seed, timed end to
  end (start-up, reading, flows, fitting, final inference, writing), with the 1-minute load average
  sampled while it runs;
- ``bm3d`` (colour BM3D per frame, sigma given) and the non-local means baselines of
  :mod:`stbn.evaluation.baselines` run in this process, timed per frame.

PSNR is per frame on float [0, 1] against the clean frames, averaged over the frames. Every result is a
JSON file under ``RESULTS/runs`` named by clip, sigma, preset, ``--set`` overrides, minutes and seed and
recording its dataset (clip names are unique across the datasets, :data:`stbn.data.corpus.ROLES`, so one
results folder holds them all; existing results are reused, so runs can be added later or run in parallel
lanes; the name sees neither a preset's contents nor ``--frames``/``--size``, so after changing those use a
fresh ``--results``); the script prints the table per dataset, clip and sigma and saves
``RESULTS/psnr_vs_minutes_<dataset>_sigma<S>.png`` (a panel per clip: STBN against the budget, a curve per
variant and seed, baselines as horizontal lines; a last panel: every clip's margin over BM3D).

    .venv/bin/python benchmarks/fit_vs_bm3d.py --minutes 30                        # issue 9, acceptance 1
    .venv/bin/python benchmarks/fit_vs_bm3d.py --clips bikes-fence --minutes 5 10 20 30
    .venv/bin/python benchmarks/fit_vs_bm3d.py --sigmas 10 50 --minutes 10
    .venv/bin/python benchmarks/fit_vs_bm3d.py --seeds 1 --minutes 30
    .venv/bin/python benchmarks/fit_vs_bm3d.py --dataset embedded-corpus-heldout --minutes 10 30      # issue 22, 1
    .venv/bin/python benchmarks/fit_vs_bm3d.py --dataset embedded-corpus-heldout --sigmas 15 50 --minutes 30  # 2
    .venv/bin/python benchmarks/fit_vs_bm3d.py --checkpoint results/start/cpu-start/model.pt --minutes 10
    .venv/bin/python benchmarks/fit_vs_bm3d.py --report-only                       # table and figures
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
from typing import TYPE_CHECKING

import numpy as np

from stbn import hardware
from stbn.data import corpus, embedded

if TYPE_CHECKING:
    from matplotlib.axes import Axes

DEFAULT_RESULTS = Path(tempfile.gettempdir()) / "stbn-fit-vs-bm3d"
DEFAULT_DATA = Path(__file__).resolve().parents[1] / corpus.DEFAULT_ROOT  # the workflow's datasets
BASELINES = ("noisy", "bm3d", "nlm-opencv", "nlm-skimage")
DATASETS = {embedded.TEST: embedded.materialise, corpus.CORPUS_HELDOUT: corpus.materialise,
            corpus.CORPUS_TRAIN: corpus.materialise}
"""The Set8-style sRGB datasets a run can draw its clips from, each with the function that materialises it."""


def parse_args() -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--dataset", choices=list(DATASETS), default=embedded.TEST, help="dataset of the clips")
    p.add_argument("--clips", nargs="+", help="clips of --dataset (default: all of them)")
    p.add_argument("--frames", type=int, default=20, help="first frames of each clip")
    p.add_argument("--size", type=int, default=256, help="centre crop to at most SIZE x SIZE")
    p.add_argument("--sigmas", nargs="+", type=float, default=[30.0], help="noise std (/255)")
    p.add_argument("--minutes", nargs="*", type=float, default=[30.0],
                   help="--fit-minutes budgets (none: baselines only)")
    p.add_argument("--seeds", nargs="+", type=int, default=[0], help="train.seed of the fitted model")
    model = p.add_mutually_exclusive_group()
    model.add_argument("--preset", default="cpu-fit", help="stbn denoise --preset of a new model (default %(default)s)")
    model.add_argument("--checkpoint", type=Path,
                       help="fit from this start model instead (stbn denoise --checkpoint; docs/fitting.md)")
    p.add_argument("--set", dest="overrides", action="append", default=[], metavar="KEY=VALUE",
                   help="extra stbn denoise --set (recorded with the run)")
    p.add_argument("--threads", type=int, default=0,
                   help="threads of each stbn denoise (OMP_NUM_THREADS and train.threads; 0: torch's default), "
                   "e.g. 1 per run when runs share the cores")
    p.add_argument("--baselines", nargs="*", default=list(BASELINES), choices=BASELINES)
    p.add_argument("--results", type=Path, default=DEFAULT_RESULTS, help="results folder (default %(default)s)")
    p.add_argument("--data", type=Path, default=DEFAULT_DATA, help="datasets root (default %(default)s)")
    p.add_argument("--report-only", action="store_true", help="no runs: table and figure from stored results")
    return p.parse_args()


# ----------------------------------------------------------------------------- frames
def dataset_root(data_root: Path, dataset: str) -> Path:
    """The folder of ``dataset`` (a key of :data:`DATASETS`) under ``data_root``, materialised first when needed."""
    return DATASETS[dataset](data_root)[dataset]


def dataset_clips(data_root: Path, dataset: str) -> list[str]:
    """Names of every clip (sequence folder) of ``dataset``, sorted."""
    from stbn.data.io import list_sequences

    return [p.name for p in list_sequences(dataset_root(data_root, dataset))]


def clean_clip(data_root: Path, clip: str, frames: int, size: int, dataset: str = embedded.TEST) -> np.ndarray:
    """The first ``frames`` clean frames ``(T, H, W, 3)`` of a clip of ``dataset``, centre-cropped to ``size``."""
    from stbn.data.io import read_sequence

    clean = read_sequence(dataset_root(data_root, dataset) / clip, frames)
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
def variant(preset: str, overrides: list[str], checkpoint: Path | None = None) -> str:
    """The fitted method: the preset, or ``from-<name>`` for a start model (``<name>`` its file's stem, or its
    folder's for a ``model.pt``), and the ``--set`` overrides (``cpu-fit data.crop=56``)."""
    if checkpoint is not None:
        preset = f"from-{checkpoint.parent.name if checkpoint.stem == 'model' else checkpoint.stem}"
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


def wait_for(proc: subprocess.Popen, seconds: float) -> bool:
    """Whether ``proc`` ended within ``seconds``."""
    try:
        proc.wait(timeout=seconds)
    except subprocess.TimeoutExpired:
        return False
    return True


def model_args(args: argparse.Namespace) -> list[str]:
    """``stbn denoise``'s model: ``--checkpoint START`` or ``--preset P``."""
    return ["--checkpoint", str(args.checkpoint)] if args.checkpoint else ["--preset", args.preset]


def run_stbn(noisy_dir: Path, out_dir: Path, sigma: float, minutes: float, seed: int, args: argparse.Namespace) -> dict:
    """``stbn denoise`` as a subprocess, timed end to end, the load average sampled every 5 s."""
    stbn = Path(sys.executable).with_name("stbn")
    cmd = [str(stbn), "denoise", str(noisy_dir), "-o", str(out_dir), "--sigma", f"{sigma:g}",
           "--fit-minutes", f"{minutes:g}", *model_args(args), "--bit-depth", "16", "--device", "cpu",
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
        loads.append(os.getloadavg()[0])
        while not wait_for(proc, 5.0):  # waiting, not sleeping, so the wall time ends when the run does
            loads.append(os.getloadavg()[0])
    seconds = time.monotonic() - start
    if proc.returncode:
        raise SystemExit(f"{' '.join(cmd)} failed ({proc.returncode}); see {log}")
    return {"seconds": seconds, "load_mean": statistics.fmean(loads), "load_max": max(loads), "command": cmd}


def collect(args: argparse.Namespace) -> None:
    """Run every missing result and store it under ``RESULTS/runs``."""
    from stbn.data.io import read_sequence

    runs = args.results / "runs"
    runs.mkdir(parents=True, exist_ok=True)
    method = variant(args.preset, args.overrides, args.checkpoint)
    start = {}
    if args.checkpoint:
        start = {"checkpoint": str(args.checkpoint), "checkpoint_sha256": embedded.sha256_file(args.checkpoint)}
    for clip in args.clips or dataset_clips(args.data, args.dataset):
        clean = clean_clip(args.data, clip, args.frames, args.size, args.dataset)
        for sigma in args.sigmas:
            key = {"dataset": args.dataset, "clip": clip, "sigma": sigma, "frames": len(clean),
                   "size": list(clean.shape[1:3])}
            noisy_dir = args.results / "noisy" / f"{clip}-s{sigma:g}"
            noisy = noisy_folder(clean, sigma, noisy_dir)
            for baseline in args.baselines:
                path = runs / f"{clip}_s{sigma:g}_{baseline}.json"
                if not path.exists():
                    result = run_baseline(baseline, clean, noisy, sigma)
                    path.write_text(json.dumps({**key, "method": baseline, **result, "machine": hardware.describe()}))
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
                              "overrides": args.overrides, "threads": args.threads, **start, **result,
                              "machine": hardware.describe()}
                    path.write_text(json.dumps(record))
                    print(f"{name}: {result['psnr']:.2f} dB in {result['seconds'] / 60:.2f} min "
                          f"(load {result['load_mean']:.2f} mean, {result['load_max']:.2f} max)", flush=True)


# ----------------------------------------------------------------------------- report
def load_results(results: Path) -> list[dict]:
    """Every stored result; those stored before ``--dataset`` existed are of the embedded test clips."""
    return [{"dataset": embedded.TEST, **json.loads(p.read_text())} for p in sorted((results / "runs").glob("*.json"))]


def machine_kind(row: dict) -> str:
    """The CPU a stored result ran on (model, torch's capability, native bf16), or "not recorded" for results
    stored before the script recorded it."""
    m = row.get("machine")
    return f"{m['cpu']}, {m['cpu_capability']}, native bf16 {m['native_bf16']}" if m else "not recorded"


def print_table(rows: list[dict], results: Path) -> None:
    """Per dataset, clip and sigma: the baselines, then every STBN run with its wall time, fitting steps, margin
    over BM3D and final-pass ensemble; first, the machines the results ran on."""
    for kind in sorted({machine_kind(r) for r in rows}):
        print(f"machine: {kind} ({sum(machine_kind(r) == kind for r in rows)} results)")
    for dataset, clip, sigma in sorted({(r["dataset"], r["clip"], r["sigma"]) for r in rows}):
        group = [r for r in rows if (r["dataset"], r["clip"], r["sigma"]) == (dataset, clip, sigma)]
        base = {r["method"]: r for r in group if "minutes" not in r}
        bm3d = base.get("bm3d", {}).get("psnr")
        size = "x".join(map(str, group[0]["size"]))
        fits = sorted((r for r in group if "minutes" in r), key=lambda r: (r["method"], r["minutes"], r["seed"]))
        labels = [f"{r['method']} {r['minutes']:g} min seed {r['seed']}" for r in fits]
        width = max(map(len, [*labels, *base])) + 2
        print(f"\n{dataset}: {clip} ({group[0]['frames']} frames, {size}), sigma {sigma:g}")
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


def curves(fits: list[dict]) -> dict[tuple[str, int], list[tuple[float, float]]]:
    """``{(variant, seed): [(minutes, PSNR)]}`` of one clip's STBN runs, sorted by minutes."""
    keys = sorted({(r["method"], r["seed"]) for r in fits})
    return {k: sorted((r["minutes"], r["psnr"]) for r in fits if (r["method"], r["seed"]) == k) for k in keys}


def clip_panel(ax: Axes, group: list[dict], title: str) -> None:
    """One clip at one sigma: a curve per STBN variant and seed, the baselines but the noisy input as lines."""
    fits = [r for r in group if "minutes" in r]
    for (method, seed), pts in curves(fits).items():
        ax.plot(*zip(*pts), "o-", label=f"STBN {method}, seed {seed}")
    for r, style in zip((r for r in group if "minutes" not in r and r["method"] != "noisy"), ("--", ":", "-.")):
        ax.axhline(r["psnr"], linestyle=style, color="grey" if r["method"] != "bm3d" else "black",
                   label=f"{r['method']} ({r['psnr']:.2f} dB)")
    load = f"load {min(r['load_mean'] for r in fits):.1f}-{max(r['load_mean'] for r in fits):.1f}"
    ax.set(title=f"{title} ({load} on {os.cpu_count()} cores)", ylabel="PSNR (dB)")
    ax.legend(fontsize=8)


def margin_panel(ax: Axes, groups: dict[str, list[dict]]) -> None:
    """Every clip's STBN PSNR minus its BM3D PSNR against the budget: a colour and marker per clip (a line per
    variant and seed where there are several); clips without a BM3D result are left out."""
    markers = "osD^vP*Xhp"
    for i, (clip, group) in enumerate(groups.items()):
        bm3d = [r["psnr"] for r in group if r["method"] == "bm3d" and "minutes" not in r]
        if not bm3d:
            continue
        runs = curves([r for r in group if "minutes" in r])
        for (method, seed), pts in runs.items():
            label = clip if len(runs) == 1 else f"{clip}, {method}, seed {seed}"
            ax.plot([m for m, _ in pts], [v - bm3d[0] for _, v in pts], marker=markers[i % len(markers)],
                    color=f"C{i}", label=label)
    ax.axhline(0.0, color="black", linestyle="--", label="BM3D")
    ax.set(title="STBN minus BM3D, every clip", ylabel="PSNR - BM3D (dB)")
    ax.legend(fontsize=8)


def save_figures(rows: list[dict], results: Path) -> list[Path]:
    """One PSNR-vs-minutes figure per dataset and sigma: a panel per clip with the baselines as horizontal lines,
    then a panel of every clip's margin over BM3D; at most three panels a row."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    paths = []
    for dataset, sigma in sorted({(r["dataset"], r["sigma"]) for r in rows if "minutes" in r}):
        here = [r for r in rows if (r["dataset"], r["sigma"]) == (dataset, sigma)]
        clips = sorted({r["clip"] for r in here if "minutes" in r})
        groups = {clip: [r for r in here if r["clip"] == clip] for clip in clips}
        cols = min(3, len(clips) + 1)
        nrows = -(-(len(clips) + 1) // cols)
        fig, axes = plt.subplots(nrows, cols, figsize=(5 * cols, 4 * nrows), squeeze=False)
        panels = list(axes.flat)
        for ax, (clip, group) in zip(panels, groups.items()):
            clip_panel(ax, group, clip)
        margin_panel(panels[len(clips)], groups)
        xmax = 1.05 * max(r["minutes"] for r in here if "minutes" in r)
        for ax in panels[: len(clips) + 1]:
            ax.set(xlabel="stbn denoise --fit-minutes (wall time)", xlim=(0, xmax))
            ax.grid(alpha=0.3)
        for ax in panels[len(clips) + 1 :]:
            ax.set_axis_off()
        fig.suptitle(f"{dataset}, sigma {sigma:g}")
        fig.tight_layout()
        path = results / f"psnr_vs_minutes_{dataset}_sigma{sigma:g}.png"
        fig.savefig(path, dpi=120)
        plt.close(fig)
        paths.append(path)
    return paths


def main() -> None:
    args = parse_args()
    print(hardware.machine_line(), flush=True)
    if not args.report_only:
        collect(args)
    rows = load_results(args.results)
    print_table(rows, args.results)
    for path in save_figures(rows, args.results):
        print(f"figure: {path}")


if __name__ == "__main__":
    main()
