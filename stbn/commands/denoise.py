"""``stbn denoise``: denoise a user's footage (video, frame folder, DNG or CRVD TIFF sequence).

The noise level is given or estimated; the model comes from a checkpoint, optionally fitted further
on the input itself (self-supervised, ``--fit-steps`` or ``--fit-minutes``), or is fitted from scratch.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path
from typing import TYPE_CHECKING

from stbn.config import PRESET_NAMES, ExperimentConfig
from stbn.device import add_device_argument, resolve_device, set_threads
from stbn.errors import StbnError

if TYPE_CHECKING:
    import torch

    from stbn.models import STBN


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
        description="Denoise footage without a clean reference: frames stream in and out; the whole clip "
        "is denoised in one bidirectional pass. Output: a video (.mp4/.mkv/.mov) or a frame folder.",
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
    from stbn.checkpoint import build_model, load_model
    from stbn.config import apply_overrides, load_config

    if args.checkpoint is not None:
        if args.preset is not None:
            raise StbnError("--preset applies to a new model; a --checkpoint brings its own config")
        net, cfg, _ = load_model(args.checkpoint, device, kind=kind)
        if any(item.strip().startswith("model.") for item in args.overrides):
            raise StbnError("--set model.*: a checkpoint's architecture cannot be changed")
        return net, apply_overrides(cfg, args.overrides, f"{args.checkpoint} config") if args.overrides else cfg
    if not (args.fit_steps or args.fit_minutes):
        raise StbnError("without --checkpoint, pass --fit-steps or --fit-minutes to fit a model on the input")
    cfg = load_config(None, args.overrides, base=args.preset or f"default-{kind}")
    if cfg.data.kind != kind:
        raise StbnError(f"--preset {cfg.name} is for {cfg.data.kind} data, but the input is {kind}")
    from stbn.train import seed_everything

    seed_everything(cfg.train.seed)
    return build_model(cfg).to(device), cfg


def run(args: argparse.Namespace) -> int:
    """Check every input first, then read, (fit,) denoise and write; ``--fit-minutes`` bounds it all, from
    the start of the process."""
    from stbn.fit_budget import fitting_minutes, inference_seconds, process_start

    start = process_start()
    import numpy as np
    import torch
    from tqdm import tqdm

    from stbn.checkpoint import save_checkpoint
    from stbn.data.io import open_frames, write_frames
    from stbn.infer import denoise_clip
    from stbn.noise_estimate import estimate_sigma
    from stbn.provenance import provenance
    from stbn.train import fit

    if args.fit_steps is not None and args.fit_steps < 1:
        raise StbnError(f"--fit-steps {args.fit_steps}: must be >= 1")
    if args.fit_minutes is not None and args.fit_minutes <= 0:
        raise StbnError(f"--fit-minutes {args.fit_minutes}: must be > 0")
    source = open_frames(args.input)
    kind = "srgb" if source.kind == "rgb" else "raw"
    device = resolve_device(args.device)
    net, cfg = _model_and_config(args, kind, device)
    needs_sigma = net.head_kind == "gaussian" or net.uses_noise_map
    if needs_sigma and args.sigma is None:
        raise StbnError("this model needs the noise level: pass --sigma S (/255 scale) or --sigma auto")
    if not needs_sigma and args.sigma is not None:
        raise StbnError(f"--sigma: the {kind} model takes no noise level (raw noise is signal-dependent)")

    frames = np.stack(list(tqdm(source, total=len(source), desc="read", unit="frame", dynamic_ncols=True)))
    sigma_255 = args.sigma
    if sigma_255 == "auto":
        sigma_255 = estimate_sigma(frames) * 255.0
        print(f"estimated noise std: {sigma_255:.2f} / 255", file=sys.stderr)
    noisy = torch.from_numpy(frames).permute(0, 3, 1, 2)
    sigma = None if sigma_255 is None else sigma_255 / 255.0
    minutes = args.fit_minutes
    if minutes:
        reserve = inference_seconds(net, noisy, sigma)
        minutes = fitting_minutes(minutes, time.monotonic() - start, reserve)
        print(f"fitting for {minutes:.2f} of the {args.fit_minutes:g} minutes", file=sys.stderr)
    if args.fit_steps or minutes:
        threads = torch.get_num_threads()
        set_threads(cfg.train.threads)  # for the fitting only: inference matches stbn evaluate's threads
        fit(net, cfg, frames, sigma_255, steps=args.fit_steps, minutes=minutes)
        torch.set_num_threads(threads)
    if args.save_model is not None:
        payload = {"step": 0, "config": cfg.model_dump(mode="json"), "provenance": provenance()}
        save_checkpoint(args.save_model, {**payload, "state_dict": net.state_dict()})
    den = denoise_clip(net, noisy, sigma).permute(0, 2, 3, 1).numpy()
    out_frames = tqdm(den, desc="write", unit="frame", dynamic_ncols=True)
    n = write_frames(out_frames, args.output, fps=args.fps or source.fps or 25.0, bit_depth=args.bit_depth)
    print(f"{args.output}: {n} frames", file=sys.stderr)
    return 0
