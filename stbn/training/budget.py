"""The wall-time budget of ``stbn denoise --fit-minutes M``: M minutes cover everything the user waits for.

The budget counts from the start of the process (the interpreter's start-up and imports take seconds,
and much longer on a busy machine). Reading the frames, estimating the noise level and loading happen
before fitting and are subtracted as measured; the final inference (flows plus the bidirectional pass)
and writing happen after it and are reserved from an estimate: a timed pass of the untrained model over
the first frames, scaled to the clip length (the frames of its time windows), with a safety factor; the
sample passes count as time spent.
The final pass's shift ensemble (``infer.shift_ensemble`` k: k*k passes) is the configured one only when
it fits in a fraction of the budget, else it is halved until it does: at short budgets a minute of fitting
is worth more than the ensemble (docs/fitting.md). What is left is the fitting budget
(:func:`stbn.training.fit.fit`, whose own clock includes its one-off flow estimation). :func:`plan` does
it all.
"""

from __future__ import annotations

import os
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from stbn.config import ExperimentConfig, InferConfig
from stbn.engine import denoise
from stbn.engine.schedule import time_windows
from stbn.errors import StbnError
from stbn.models.registry import Denoiser

SAMPLE_FRAMES = 2
"""Frames of the timed pass that estimates the final inference."""
SAFETY = 1.5
"""Factor on the estimated inference time (the sample pass runs before oneDNN has warmed up, and the
writing of the frames comes on top)."""
MARGIN_SECONDS = 2.0
"""Fixed reserve for timer granularity and process exit."""
MARGIN_FRACTION = 0.01
"""Reserve, as a fraction of the budget, for a slower machine during the final pass than during the sample
pass, and for the last fitting step running over."""
ENSEMBLE_FRACTION = 0.06
"""Most of the budget the final pass's shift ensemble may take (its estimate, safety factor included): the
preset's 4x4 windows (about 5.8% of 30 minutes on a 20-frame 136x256 clip, 4.6% on 144x176) stay at 30
minutes and halve at shorter budgets or on larger clips (docs/fitting.md)."""


def process_start() -> float:
    """``time.monotonic()`` at the start of this process (from Linux ``/proc``; elsewhere: now)."""
    try:
        ticks = int(Path("/proc/self/stat").read_text().rpartition(")")[2].split()[19])
        uptime = float(Path("/proc/uptime").read_text().split()[0])
    except (OSError, ValueError, IndexError):
        return time.monotonic()
    return time.monotonic() - max(0.0, uptime - ticks / os.sysconf("SC_CLK_TCK"))


def inference_seconds(net: Denoiser, noisy: torch.Tensor, sigma: float | None, cfg: ExperimentConfig) -> float:
    """Estimated wall time of denoising ``noisy`` ``(T, C, H, W)`` with one window of the shift ensemble
    (then writing it), from a timed pass over its first frames after a warm-up pass over the first one,
    scaled to the frames of the clip's time windows (``infer.time_window``); denoised as ``cfg`` says (its
    ``infer.shift_ensemble`` aside), so the timed path is the final pass's."""
    one = cfg.infer.model_copy(update={"shift_ensemble": 1})
    k = min(SAMPLE_FRAMES, noisy.shape[0])
    for sample in (noisy[:1], noisy[:k]):  # a warm-up pass, then the timed one
        start = time.monotonic()
        frames = sample.unsqueeze(1).unbind(0)
        for _ in denoise(net, frames, sigma, one, cfg.speed, reestimate_flows=cfg.flow.reestimates):
            pass
    return SAFETY * (time.monotonic() - start) * _span_frames(noisy.shape[0], cfg.infer) / _span_frames(k, cfg.infer)


def _span_frames(length: int, infer: InferConfig) -> int:
    """Frames denoised per pass over ``length`` frames: those of its time windows."""
    return sum(hi - lo for lo, hi in time_windows(length, infer.time_window, infer.window_stride))


def budget_ensemble(infer: InferConfig, window_seconds: float, total_minutes: float) -> tuple[InferConfig, float]:
    """``infer`` with the largest shift ensemble k (the configured one, halved as often as needed) whose k*k
    windows, ``window_seconds`` each, take at most :data:`ENSEMBLE_FRACTION` of ``total_minutes``; and the
    seconds to reserve for that final pass. Halving keeps every pixel on equally many phases of the 2x2
    blind spot."""
    k = infer.shift_ensemble
    while k > 1 and k * k * window_seconds > ENSEMBLE_FRACTION * total_minutes * 60.0:
        k //= 2
    return infer.model_copy(update={"shift_ensemble": k}), k * k * window_seconds


def fitting_minutes(total_minutes: float, elapsed_seconds: float, reserve_seconds: float) -> float:
    """Minutes left for fitting out of ``total_minutes`` once ``elapsed_seconds`` are spent and
    ``reserve_seconds`` (final inference and writing) plus the margins are kept back; a user error if
    nothing is left."""
    overhead = elapsed_seconds + reserve_seconds + MARGIN_SECONDS + MARGIN_FRACTION * total_minutes * 60.0
    left = total_minutes * 60.0 - overhead
    if left <= 0:
        needed = overhead / 60.0
        raise StbnError(
            f"--fit-minutes {total_minutes:g}: reading and denoising this clip alone take about {needed:.2f} "
            "minutes; give a larger budget"
        )
    return left / 60.0


@dataclass(frozen=True)
class Budget:
    """How ``stbn denoise --fit-minutes`` spends its minutes: ``cfg`` with the final pass's ``infer`` (the
    shift ensemble the budget allows) and the ``minutes`` left for fitting."""

    cfg: ExperimentConfig
    minutes: float


def plan(net: Denoiser, cfg: ExperimentConfig, noisy: np.ndarray, sigma: float | None, total_minutes: float) -> Budget:
    """The budget of fitting ``net`` on ``noisy`` ``(T, H, W, C)`` (``sigma`` on the [0, 1] scale) within
    ``total_minutes`` counted from the start of the process: the final pass is timed on its own path, its
    shift ensemble chosen, and what is left (margins aside) is for fitting."""
    window = inference_seconds(net, torch.from_numpy(noisy).permute(0, 3, 1, 2), sigma, cfg)
    infer, reserve = budget_ensemble(cfg.infer, window, total_minutes)
    minutes = fitting_minutes(total_minutes, time.monotonic() - process_start(), reserve)
    return Budget(cfg.model_copy(update={"infer": infer}), minutes)
