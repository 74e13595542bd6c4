"""``stbn denoise``: denoise a user's footage (video, frame folder, DNG or CRVD TIFF sequence).

The noise level is given or estimated; the model comes from a checkpoint, optionally fitted further
on the input itself (self-supervised, ``--fit-steps`` or ``--fit-minutes``), or is fitted from scratch.
"""

from __future__ import annotations

import argparse
import re
import sys
from collections.abc import Iterable, Iterator
from itertools import islice
from pathlib import Path
from typing import TYPE_CHECKING

from stbn.config import PRESET_NAMES, ExperimentConfig, unit_sigma
from stbn.device import add_device_argument, resolve_device
from stbn.errors import StbnError

if TYPE_CHECKING:
    import numpy as np
    import torch

    from stbn.models import STBN

SIGMA_FRAMES = 8
"""Frames at the start of the clip that ``--sigma auto`` estimates the noise level from."""
OUTPUT_FRAME = re.compile(r"\d{5}\.(png|tiff)")
"""Names of the frames a folder output holds (``stbn.data.io.write_frames``)."""


def _sigma(text: str) -> float | str:
    if text == "auto":
        return text
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a number (/255 scale) or 'auto', got {text!r}") from None
    if not 0 < value <= 255:
        raise argparse.ArgumentTypeError(f"expected a std in (0, 255] on the /255 scale, got {value}")
    return value


def add_parser(subparsers: argparse._SubParsersAction) -> None:
    """Register ``denoise``."""
    p = subparsers.add_parser(
        "denoise",
        help="denoise a video, frame folder or DNG sequence",
        description="Denoise footage without a clean reference in one bidirectional pass: frames stream in "
        "and out (the config's infer/speed sections; fitting holds the clip in memory). Output: a video "
        "(.mp4/.mkv/.mov) or a frame folder, checked before any work.",
    )
    p.add_argument("input", type=Path, help="video file, frame folder, or folder of DNG / CRVD TIFF frames")
    p.add_argument("-o", "--output", required=True, type=Path, help="output video file or frame folder")
    p.add_argument("--checkpoint", type=Path, help="trained model (default: fit a new model on the input)")
    p.add_argument("--sigma", type=_sigma, help="sRGB noise std on the /255 scale, or 'auto' to estimate it")
    fit = p.add_mutually_exclusive_group()
    fit.add_argument("--fit-steps", type=int, help="self-supervised fitting steps on the input first")
    fit.add_argument("--fit-minutes", type=float,
                     help="time budget in minutes for the whole command (read, fit, denoise, write)")
    p.add_argument("--preset", choices=PRESET_NAMES, help="config of a new model (default: default-srgb|default-raw)")
    p.add_argument("--set", dest="overrides", action="append", default=[], metavar="KEY=VALUE",
                   help="override a fitting config key, e.g. --set train.lr=5e-4 (repeatable)")
    p.add_argument("--save-model", type=Path, help="also save the (fitted) model as a checkpoint here")
    p.add_argument("--fps", type=float, help="output video frame rate (default: the input's, else 25)")
    p.add_argument("--bit-depth", type=int, default=8, choices=(8, 16), help="PNG depth of a frame-folder output")
    add_device_argument(p)
    p.set_defaults(func=run)


def _model_and_config(args: argparse.Namespace, kind: str, device: torch.device) -> tuple[STBN, ExperimentConfig]:
    """The model to denoise with and the config its fitting uses; all checks before any work."""
    from stbn.checkpoint import load_model
    from stbn.config import apply_overrides, load_config
    from stbn.training.fit import new_model

    if args.checkpoint is not None:
        if args.preset is not None:
            raise StbnError("--preset applies to a new model; a --checkpoint brings its own config")
        net, cfg, _ = load_model(args.checkpoint, device, kind=kind)
        if any(item.strip().startswith("model.") for item in args.overrides):
            raise StbnError("--set model.*: a checkpoint's architecture cannot be changed")
        return net, apply_overrides(cfg, args.overrides, f"{args.checkpoint} config") if args.overrides else cfg
    if not (args.fit_steps or args.fit_minutes):
        raise StbnError("without --checkpoint, pass --fit-steps or --fit-minutes to fit a model on the input")
    cfg = load_config(args.preset or f"default-{kind}", args.overrides)
    if cfg.data.kind != kind:
        raise StbnError(f"--preset {cfg.name} is for {cfg.data.kind} data, but the input is {kind}")
    return new_model(cfg, device), cfg


def _check_output(output: Path, source: Path) -> bool:
    """Check ``-o`` before any work: a writable video (.mp4/.mkv/.mov) or frame-folder path that is not the
    input; returns whether it is a video."""
    from stbn.data.atomic import check_target
    from stbn.data.io import DNG_SUFFIX, IMAGE_SUFFIXES, VIDEO_SUFFIXES, WRITABLE_VIDEO_SUFFIXES

    suffix = output.suffix.lower()
    videos = ", ".join(WRITABLE_VIDEO_SUFFIXES)
    if suffix in VIDEO_SUFFIXES and suffix not in WRITABLE_VIDEO_SUFFIXES:
        raise StbnError(f"-o {output}: cannot write {suffix} videos; give a {videos} file or a frame folder")
    if suffix in (*IMAGE_SUFFIXES, DNG_SUFFIX):
        raise StbnError(f"-o {output}: one image file cannot hold a clip; give a frame folder or a {videos} file")
    if output.absolute() == source.absolute():
        raise StbnError(f"-o {output}: is the input; give another path")
    video = suffix in VIDEO_SUFFIXES
    check_target(output, "-o", directory=not video)
    if not video and output.is_dir():
        foreign = sorted(p.name for p in output.iterdir() if not OUTPUT_FRAME.fullmatch(p.name))
        if foreign:  # the folder is replaced as a whole: never delete what a previous output did not write
            raise StbnError(
                f"-o {output}: holds {', '.join(foreign[:3])}{', ...' if len(foreign) > 3 else ''}, not frames "
                "of a previous output (the folder is replaced as a whole); give a new or empty folder"
            )
    return video


def _noise_level(
    sigma: float | str | None, frames: Iterator[np.ndarray]
) -> tuple[float | None, Iterator[np.ndarray]]:
    """``(noise std on the /255 scale, frames)``: ``--sigma`` as given, or for ``auto`` estimated from the
    first :data:`SIGMA_FRAMES` frames ``(H, W, C)``, which are held and handed on before the rest."""
    import numpy as np
    from tqdm import tqdm

    from stbn.data.noise_estimate import estimate_sigma

    if sigma != "auto":
        return sigma, frames
    head = list(islice(frames, SIGMA_FRAMES))
    sigma = estimate_sigma(np.stack(head)) * 255.0
    tqdm.write(f"estimated noise std: {sigma:.2f} / 255 (first {len(head)} frames)", file=sys.stderr)

    def replay() -> Iterator[np.ndarray]:
        while head:
            yield head.pop(0)
        yield from frames

    return sigma, replay()


def _denoised(
    net: STBN, frames: Iterable[np.ndarray], sigma: float | None, cfg: ExperimentConfig
) -> Iterator[np.ndarray]:
    """Denoised frames ``(H, W, C)`` float32 in [0, 1], one per noisy frame ``(H, W, C)`` (``sigma`` on the
    [0, 1] scale), as ``cfg`` says, like ``stbn evaluate``: streamed (memory does not grow with the clip), or
    the whole clip at once when ``infer.streaming`` is false."""
    import torch

    from stbn.engine import denoise

    chw = (torch.from_numpy(f).permute(2, 0, 1)[None] for f in frames)
    out = denoise(net, chw, sigma, cfg.infer, cfg.speed, reestimate_flows=cfg.flow.reestimates)
    return (y[0].permute(1, 2, 0).cpu().numpy() for y in out)


def _progress(frames: Iterable[np.ndarray], total: int) -> Iterator[np.ndarray]:
    """``frames`` (each ``(H, W, C)``) counted by a "denoise" bar that starts with the first frame out, i.e.
    once the bidirectional pass has read the whole clip and the "read" bar is closed."""
    from tqdm import tqdm

    bar = None
    try:
        for frame in frames:
            bar = bar or tqdm(total=total, desc="denoise", unit="frame", dynamic_ncols=True)
            yield frame
            bar.update()
    finally:
        if bar is not None:
            bar.close()


def run(args: argparse.Namespace) -> int:
    """Check every input first, then (read and fit,) stream the frames through the model into the output;
    ``--fit-minutes`` bounds it all, from the start of the process (:mod:`stbn.training.budget`)."""
    import numpy as np
    from tqdm import tqdm

    from stbn.checkpoint import checkpoint_payload, save_checkpoint
    from stbn.data.atomic import check_target
    from stbn.data.io import open_frames, write_frames
    from stbn.training import budget
    from stbn.training.fit import fit

    if args.fit_steps is not None and args.fit_steps < 1:
        raise StbnError(f"--fit-steps {args.fit_steps}: must be >= 1")
    if args.fit_minutes is not None and args.fit_minutes <= 0:
        raise StbnError(f"--fit-minutes {args.fit_minutes}: must be > 0")
    video = _check_output(args.output, args.input)
    if args.save_model is not None:
        check_target(args.save_model, "--save-model")
    source = open_frames(args.input)
    kind = "srgb" if source.kind == "rgb" else "raw"
    if video and kind == "raw":
        raise StbnError(f"-o {args.output}: raw frames are written as a folder of 16-bit TIFFs, not a video")
    device = resolve_device(args.device)
    net, cfg = _model_and_config(args, kind, device)
    needs_sigma = net.head_kind == "gaussian" or net.uses_noise_map
    if needs_sigma and args.sigma is None:
        raise StbnError("this model needs the noise level: pass --sigma S (/255 scale) or --sigma auto")
    if not needs_sigma and args.sigma is not None:
        raise StbnError(f"--sigma: the {kind} model takes no noise level (raw noise is signal-dependent)")

    reading = iter(tqdm(source, total=len(source), desc="read", unit="frame", dynamic_ncols=True))
    frames = None
    if args.fit_steps or args.fit_minutes:  # fitting needs the whole clip in memory
        frames = np.stack(list(reading))
        reading = iter(frames)
    sigma_255, noisy = _noise_level(args.sigma, reading)
    sigma = None if sigma_255 is None else unit_sigma(sigma_255)
    if args.fit_minutes:
        plan = budget.plan(net, cfg, frames, sigma, args.fit_minutes)
        cfg, k = plan.cfg, plan.cfg.infer.shift_ensemble
        ensembles = [f"{k}x{k} shifts"] * (k > 1) + ["time reversal"] * cfg.infer.time_ensemble
        print(f"fitting for {plan.minutes:.2f} of the {args.fit_minutes:g} minutes; final pass ensemble: "
              f"{' + '.join(ensembles) or 'none'}", file=sys.stderr)
        fit(net, cfg, frames, sigma_255, minutes=plan.minutes)
    elif args.fit_steps:
        fit(net, cfg, frames, sigma_255, steps=args.fit_steps)
    if args.save_model is not None:
        save_checkpoint(args.save_model, checkpoint_payload(cfg, 0, {"state_dict": net.state_dict()}))
    out = _progress(_denoised(net, noisy, sigma, cfg), len(source))
    n = write_frames(out, args.output, fps=args.fps or source.fps or 25.0, bit_depth=args.bit_depth)
    print(f"{args.output}: {n} frames", file=sys.stderr)
    return 0
