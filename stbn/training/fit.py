"""Self-supervised fitting of a model on the one video it is to denoise (``stbn denoise --fit-*``).

A budget in steps, or in minutes (:mod:`stbn.training.budget` sets how many of the command's minutes are
left for it); the config's milestones, as fractions of ``train.iterations``, are stretched over it.
"""

from __future__ import annotations

import time
from collections.abc import Callable

import numpy as np
import torch
from tqdm import tqdm

from stbn.checkpoint import build_model
from stbn.config import ExperimentConfig
from stbn.data.clips import TrainingClips
from stbn.device import set_threads
from stbn.models.registry import Denoiser
from stbn.training.rng import seed_everything
from stbn.training.trainer import Trainer, lr_scale


def new_model(cfg: ExperimentConfig, device: torch.device | str) -> Denoiser:
    """The untrained network of ``cfg``, initialised from ``train.seed``, on ``device``."""
    seed_everything(cfg.train.seed)
    return build_model(cfg).to(device)


def fit(
    net: Denoiser,
    cfg: ExperimentConfig,
    noisy: np.ndarray,
    sigma_255: float | None,
    steps: int | None = None,
    minutes: float | None = None,
    progress: bool = True,
    clock: Callable[[], float] = time.monotonic,
) -> list[tuple[float, float]]:
    """Self-supervised fitting of ``net`` on one noisy video ``(T, H, W, C)``; returns ``(loss, lr)`` per step.

    Runs ``steps`` steps, or as many as end within ``minutes`` (a step is not started when the mean time per
    step so far, setup included, would take it past the budget); the config's milestones (as fractions of
    ``train.iterations``) are stretched over that budget, so the learning rate ends decayed either way.
    Clips are ``min(T, clip_length)`` frames with crops ``min(crop, H, W)``, stride 1. A fixed flow
    estimator (not ``none``, not distilled) runs once on the whole video, inside the time budget, and
    the steps take crops of its flows (with re-estimation, the flows of the first pass). Torch uses
    ``train.threads`` threads for the fitting only (inference keeps the process's, like ``stbn evaluate``).
    """
    if (steps is None) == (minutes is None):
        raise ValueError("fit: give exactly one of steps and minutes")
    threads = torch.get_num_threads()
    set_threads(cfg.train.threads)
    try:
        return _fit(net, cfg, noisy, sigma_255, steps, minutes, progress, clock)
    finally:
        torch.set_num_threads(threads)


def _fit(
    net: Denoiser, cfg: ExperimentConfig, noisy: np.ndarray, sigma_255: float | None, steps: int | None,
    minutes: float | None, progress: bool, clock: Callable[[], float],
) -> list[tuple[float, float]]:
    """:func:`fit` with the threads set."""
    start = clock()
    d, t = cfg.data, cfg.train
    flows = None
    if cfg.flow.estimator != "none" and cfg.flow.refinement != "distill":
        video = torch.from_numpy(np.ascontiguousarray(noisy)).permute(0, 3, 1, 2).unsqueeze(0)
        flows = [tuple(f[0].cpu() for f in net.estimate_flows(video.to(next(net.parameters()).device)))]
    clips = TrainingClips(
        d.kind, min(d.clip_length, noisy.shape[0]), 1, min(d.crop, *noisy.shape[1:3]), d.batch_size, t.seed,
        noisy=[noisy], sigma_range_255=(sigma_255 or 0.0,) * 2, flows=flows, augment=d.augment,
    )
    trainer = Trainer(cfg, net, steps=steps, minutes=minutes)
    fractions = [m / t.iterations for m in t.milestones]
    budget = steps if steps is not None else minutes * 60.0
    bar = tqdm(total=steps, desc="fit", disable=not progress, dynamic_ncols=True, unit="step")
    history: list[tuple[float, float]] = []
    while True:
        used = len(history) if steps is not None else clock() - start
        ahead = 1 if steps is not None else (used / len(history) if history else 0.0)  # the next step's cost
        if used + ahead > budget:
            break
        step = len(history)
        loss, lr = trainer.step(clips.batch(step), step, scale=lr_scale(used / budget, fractions, t.gamma))
        history.append((loss, lr))
        bar.update(1)
        bar.set_postfix(loss=f"{loss:.4g}", lr=f"{lr:.2g}")
    bar.close()
    net.eval()
    return history
