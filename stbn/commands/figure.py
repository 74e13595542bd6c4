"""``stbn figure NAME --inputs ... --out PREFIX``: a paper figure redrawn from this run's files.

What ``--inputs`` are, per figure:

- ``figure4``: none (warped pure noise is generated and measured on the spot);
- ``figure7``: training logs ``results/models/<experiment>/<variant>/<level>/seed<k>/log.csv`` (one curve each);
- ``figure10``: evaluation ``frames.csv`` files, with ``--configs`` the matching models' ``config.json``
  (lambda is read from there; distillation off counts as lambda 0);
- ``visual``: evaluation ``samples/`` folders (STBN and baselines), all made from the same noisy frames;
- ``budget``: training logs, with ``--times`` their training jobs' benchmark files (unless the log has an
  ``elapsed`` column), optional ``--final`` test ``frames.csv`` per log, and ``--baselines`` the baselines'
  ``frames.csv`` at the same noise level (the best one is drawn).

Any input may be given as ``LABEL=PATH``: the run is then called ``LABEL`` (a variant that shares another
variant's trained model and evaluation).
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np

from stbn.errors import StbnError

CROP = 96


def _aligned(args: argparse.Namespace, option: str, required: bool = True) -> list:
    values = getattr(args, option) or []
    if (values or required) and len(values) != len(args.inputs):
        raise StbnError(f"--{option}: give one per input ({len(args.inputs)}), got {len(values)}")
    return values


def _path(item: str) -> Path:
    """The path of an input given as PATH or LABEL=PATH."""
    from stbn.report.runs import split_label

    return split_label(item)[1]


def _figure4(args: argparse.Namespace):
    from stbn.report.figures import figure_warp_noise

    if args.inputs:
        raise StbnError("figure4 takes no --inputs (the noise is generated and warped on the spot)")
    return figure_warp_noise()


def _figure7(args: argparse.Namespace):
    from stbn.report.figures import Curve, figure_training_curves
    from stbn.report.runs import model_run, read_log

    logs = [read_log(_path(p)) for p in args.inputs]
    return figure_training_curves([Curve(model_run(p), log.steps, log.val_psnr) for p, log in zip(args.inputs, logs)])


def _distill_lambda(path: Path) -> float:
    from stbn.config import validate_config

    if not path.is_file():
        raise StbnError(f"{path}: model config not found")
    try:
        cfg = validate_config(json.loads(path.read_text()), str(path))
    except json.JSONDecodeError:
        raise StbnError(f"{path}: not valid JSON") from None
    return cfg.flow.distill.lam if cfg.flow.distill.enabled else 0.0


def _figure10(args: argparse.Namespace):
    from stbn.report.figures import figure_lambda
    from stbn.report.runs import read_score

    lams = [_distill_lambda(_path(p)) for p in _aligned(args, "configs")]
    if len(set(lams)) < len(lams):
        raise StbnError(f"figure10: two inputs have the same lambda ({', '.join(f'{x:g}' for x in lams)})")
    scores = [read_score(_path(p)) for p in args.inputs]
    for lam, score in sorted(zip(lams, scores), key=lambda pair: pair[0]):
        print(f"lambda {lam:g}: PSNR {score.psnr:.4f} SSIM {score.ssim:.4f}")
    return figure_lambda(lams, [s.psnr for s in scores], [s.ssim for s in scores])


def _detail_crop(clean: np.ndarray, size: int) -> tuple[slice, slice]:
    """The ``size``-square window with the most gradient energy in the clean frame."""
    from scipy import ndimage

    grey = clean.mean(axis=2)
    energy = np.hypot(*np.gradient(grey))
    h, w = grey.shape
    size = min(size, h, w)
    score = ndimage.uniform_filter(energy, size)[size // 2 : h - (size - 1) // 2, size // 2 : w - (size - 1) // 2]
    y, x = np.unravel_index(int(np.argmax(score)), score.shape)
    return slice(y, y + size), slice(x, x + size)


def _visual(args: argparse.Namespace):
    from stbn.evaluation.metrics import psnr
    from stbn.report.figures import figure_visual
    from stbn.report.runs import parse_key, read_samples, split_label

    items = [split_label(p) for p in args.inputs]
    runs = [parse_key(path.parent / "frames.csv", label).run for label, path in items]
    samples = [read_samples(path) for _, path in items]
    sequences = sorted(set.intersection(*(set(s) for s in samples)))
    if not sequences:
        raise StbnError("visual: the samples folders share no sequence (evaluate with --samples >= 1)")
    crops, scores = [], []
    for seq in sequences:
        noisy, _, clean = samples[0][seq]
        for run, sample in zip(runs, samples):
            if sample[seq][0].shape != noisy.shape or not np.array_equal(sample[seq][0], noisy):
                raise StbnError(f"visual: {run} was scored on other noisy frames of {seq} than {runs[0]}")
        window = _detail_crop(clean, CROP)
        frames = [noisy] + [sample[seq][1] for sample in samples] + [clean]
        crops.append([f[window] for f in frames])
        scores.append([f"{psnr(clean, f):.2f} dB" for f in frames[:-1]] + ["reference"])
    return figure_visual(crops, sequences, ["noisy"] + runs + ["clean"], scores)


def _budget(args: argparse.Namespace):
    from stbn.report.figures import Curve, figure_budget, log_time_crossing
    from stbn.report.runs import model_run, parse_key, read_benchmark_seconds, read_log, read_score

    logs = [read_log(_path(p)) for p in args.inputs]
    times = _aligned(args, "times", required=not all(log.elapsed for log in logs))
    finals = _aligned(args, "final", required=False)
    seconds = []
    for i, log in enumerate(logs):
        if log.elapsed is not None:
            seconds.append(log.elapsed)
        else:
            total = read_benchmark_seconds(_path(times[i]))
            seconds.append([total * step / log.total_steps for step in log.steps])
    hours = max(max(s) for s in seconds) > 2 * 3600
    unit, scale = ("hours", 3600.0) if hours else ("minutes", 60.0)
    curves = [Curve(f"{model_run(p)} (validation)", [t / scale for t in s], log.val_psnr)
              for p, log, s in zip(args.inputs, logs, seconds)]
    final_points = [Curve(f"{model_run(p)} (test)", [max(s) / scale], [read_score(_path(f)).psnr])
                    for p, s, f in zip(args.inputs, seconds, finals)]
    best = None
    if args.baselines:
        ranked = sorted(((read_score(_path(p)).psnr, parse_key(_path(p)).run) for p in args.baselines), reverse=True)
        best = (ranked[0][1], ranked[0][0])
        for curve in curves:
            crossing = log_time_crossing(curve.x, curve.y, best[1])
            reach = "n/a" if crossing is None else f"{crossing:.3g} {unit}"
            print(f"{curve.label}: best {max(curve.y):.2f} dB vs {best[0]} {best[1]:.2f} dB; "
                  f"trend reaches it at {reach}")
    return figure_budget(curves, final_points, best, unit)


BUILDERS = {"figure4": _figure4, "figure7": _figure7, "figure10": _figure10, "visual": _visual, "budget": _budget}


def run(args: argparse.Namespace) -> int:
    """Draw figure ``args.name`` and write PREFIX.png and PREFIX.pdf."""
    from stbn.report.figures import save_figure

    for path in save_figure(BUILDERS[args.name](args), args.out):
        print(path)
    return 0


def add_parser(subparsers: argparse._SubParsersAction) -> None:
    """Register ``stbn figure``."""
    p = subparsers.add_parser(
        "figure",
        help="redraw a paper figure from this run's files (PNG and PDF)",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("name", choices=tuple(BUILDERS), help="which figure")
    p.add_argument("--inputs", nargs="*", default=[], help="the figure's input files, PATH or LABEL=PATH (see above)")
    p.add_argument("--out", required=True, type=Path, help="output prefix, e.g. results/figures/figure7")
    p.add_argument("--configs", nargs="+", help="figure10: config.json of each input's model")
    p.add_argument("--times", nargs="+", help="budget: benchmark file of each log's training job")
    p.add_argument("--final", nargs="+", help="budget: test frames.csv of each log's model")
    p.add_argument("--baselines", nargs="+", help="budget: baselines' frames.csv")
    p.set_defaults(func=run)
