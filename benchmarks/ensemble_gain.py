"""PSNR of fitted models with each final-pass ensemble: time reversal (``infer.time_ensemble``) and shifted
windows (``infer.shift_ensemble`` 2 and 4), alone and together, over the whole clip or in time windows.

Each model is a checkpoint written by ``stbn denoise ... --save-model MODEL``, fitted on the noisy frames
that ``benchmarks/fit_vs_bm3d.py`` stores (``RESULTS/noisy/<clip>-s<sigma>``); it denoises them whole-clip
with its own ``speed`` section and each ensemble, and prints the PSNR against the same clean frames as
``fit_vs_bm3d.py`` (per frame, averaged) and the gain over the first variant. A variant is an ensemble
(``plain``, ``time``, ``shift2``, ``shift4``, ``time+shift2``, ``time+shift4``), over the whole clip, or with
``@L/S`` in time windows of L frames every S (``infer.time_window``, ``infer.window_stride``). How the
tuning lanes of ``docs/fitting.md`` were scored:

    OMP_NUM_THREADS=1 .venv/bin/stbn denoise /tmp/stbn-fit-vs-bm3d/noisy/carphone-s30 -o /tmp/lane-L \\
        --sigma 30 --fit-minutes 30 --preset cpu-fit --bit-depth 16 --set train.threads=1 \\
        --set data.crop=48 --save-model /tmp/lane-L.pt
    .venv/bin/python benchmarks/ensemble_gain.py --clip carphone /tmp/lane-L.pt
    .venv/bin/python benchmarks/ensemble_gain.py MODEL.pt --dataset embedded-corpus-train --clip ball-toss \\
        --variants plain plain@6/3 time+shift4@6/3
"""

from __future__ import annotations

import argparse
import re
import sys
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))
from fit_vs_bm3d import DATASETS, DEFAULT_DATA, DEFAULT_RESULTS, clean_clip, embedded, mean_psnr  # noqa: E402

ENSEMBLES = {"plain": (False, 1), "time": (True, 1), "shift2": (False, 2), "shift4": (False, 4),
             "time+shift2": (True, 2), "time+shift4": (True, 4)}


def variant(name: str) -> dict[str, bool | int]:
    """The ``infer`` keys of a variant ``ENSEMBLE`` or ``ENSEMBLE@L/S`` (time windows of L frames every S)."""
    ensemble, _, windows = name.partition("@")
    if ensemble not in ENSEMBLES or (windows and not re.fullmatch(r"\d+/\d+", windows)):
        raise argparse.ArgumentTypeError(f"{name}: not ENSEMBLE[@L/S] with ENSEMBLE one of {', '.join(ENSEMBLES)}")
    window, stride = map(int, windows.split("/")) if windows else (0, 0)
    if stride > window:
        raise argparse.ArgumentTypeError(f"{name}: the stride S must be at most the window L")
    time_ensemble, k = ENSEMBLES[ensemble]
    return {"time_ensemble": time_ensemble, "shift_ensemble": k, "time_window": window, "window_stride": stride}


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("models", nargs="+", type=Path, help="checkpoints of models fitted on the clip")
    p.add_argument("--clip", default="carphone", help="clip of --dataset the models were fitted on")
    p.add_argument("--dataset", choices=list(DATASETS), default=embedded.TEST, help="dataset of the clip")
    p.add_argument("--data", type=Path, default=DEFAULT_DATA, help="datasets root (default %(default)s)")
    p.add_argument("--variants", nargs="+", default=list(ENSEMBLES), metavar="ENSEMBLE[@L/S]",
                   help="final passes to score, after the models (default: every ensemble over the whole clip)")
    p.add_argument("--sigma", type=float, default=30.0, help="noise std (/255)")
    p.add_argument("--frames", type=int, default=20)
    p.add_argument("--size", type=int, default=256)
    p.add_argument("--results", type=Path, default=DEFAULT_RESULTS, help="fit_vs_bm3d.py's results folder")
    p.add_argument("--threads", type=int, default=0, help="torch threads (0: default)")
    args = p.parse_args()

    from _common import denoise_clip

    from stbn.checkpoint import load_model
    from stbn.config import unit_sigma
    from stbn.data.io import read_sequence

    if args.threads:
        torch.set_num_threads(args.threads)
    noisy_dir = args.results / "noisy" / f"{args.clip}-s{args.sigma:g}"
    if not noisy_dir.is_dir():
        raise SystemExit(f"{noisy_dir}: no noisy frames; run benchmarks/fit_vs_bm3d.py --clips {args.clip} first")
    noisy = torch.from_numpy(read_sequence(noisy_dir)).permute(0, 3, 1, 2)
    clean = clean_clip(args.data, args.clip, args.frames, args.size, args.dataset)
    try:
        variants = {name: variant(name) for name in args.variants}
    except argparse.ArgumentTypeError as exc:
        p.error(str(exc))
    widths = [max(13, len(name) + 2) for name in variants]
    print(f"{'model':<40}" + "".join(f"{name:>{w}}" for name, w in zip(variants, widths)))
    for path in args.models:
        net, cfg, _ = load_model(path, torch.device("cpu"))
        scores = []
        for update in variants.values():
            infer = cfg.infer.model_copy(update={"streaming": False, **update})
            den = denoise_clip(net, noisy, unit_sigma(args.sigma), infer=infer, speed=cfg.speed)
            scores.append(mean_psnr(clean, den.permute(0, 2, 3, 1).numpy()))
        cells = enumerate(zip(scores, widths))
        gains = [f"{s:{w - 6}.3f}{s - scores[0]:+6.2f}" if i else f"{s:{w}.3f}" for i, (s, w) in cells]
        print(f"{str(path):<40}" + "".join(gains), flush=True)

if __name__ == "__main__":
    main()
