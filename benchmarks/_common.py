"""Helpers shared by the benchmarks (``bench_inference``, ``bench_train``, ``bench_quality``, ``gpu_check``,
``ensemble_gain``): the noise level, the stills the clips are cut from, the model with its flow estimator, a clip
tensor through the engine, resident memory, PSNR."""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np
import torch

from stbn import STBN
from stbn.checkpoint import load_model
from stbn.config import InferConfig, SpeedConfig
from stbn.engine import denoise
from stbn.models.flow import build_flow
from stbn.models.flow.factory import ESTIMATORS

SIGMA = 30.0 / 255.0
STILLS = ("coffee", "astronaut", "chelsea", "rocket")  # scikit-image's bundled photographs
DEFAULT_FLOW = "pwcnet"  # the published code aligns with PWC-Net, and its timings include it
FLOW_NOTES = {
    "pwcnet": "PWC-Net, randomly initialised (its flows are arbitrary but non-zero, so the alignment runs: "
    "fine for timing, exactness and seams; the published code's timings include PWC-Net)",
    "dis": "OpenCV DIS",
    "none": "none (zero flow: no alignment; timings are not comparable with the published code's)",
}


def denoise_clip(
    net: STBN, noisy: torch.Tensor, sigma: float, infer: InferConfig | None = None, speed: SpeedConfig | None = None
) -> torch.Tensor:
    """:func:`stbn.engine.denoise` of a clip tensor ``(T, C, H, W)`` or ``(N, T, C, H, W)``: the estimates in the
    same shape, on ``noisy``'s device; ``infer`` defaults to the whole clip."""
    x = noisy.unsqueeze(0) if noisy.dim() == 4 else noisy
    den = denoise(net, x.unbind(1), sigma, infer or InferConfig(streaming=False), speed)
    out = torch.stack(list(den), dim=1).to(noisy.device)
    return out[0] if noisy.dim() == 4 else out


def add_flow_argument(parser: argparse.ArgumentParser) -> None:
    """``--flow``: the estimator of the random-weight models."""
    parser.add_argument("--flow", choices=list(ESTIMATORS), default=DEFAULT_FLOW,
                        help="flow estimator of the random-weight models, the same on both sides of every "
                        f"comparison (default: {DEFAULT_FLOW}, random weights)")


def random_model(width: int, flow: str) -> STBN:
    """The sRGB model with ``width`` state channels, seed-0 random weights and the ``flow`` estimator
    (PWC-Net randomly initialised: no weights file is read)."""
    torch.manual_seed(0)
    return STBN(3, num_channels=width, flow=build_flow(flow))


def model(checkpoint: str | None, width: int, flow: str) -> STBN:
    """The sRGB model of ``checkpoint`` (with its own flow estimator) if given, else :func:`random_model`."""
    if checkpoint:
        return load_model(checkpoint, torch.device("cpu"), kind="srgb")[0]
    return random_model(width, flow)


def model_description(checkpoint: str | None, width: int, flow: str) -> str:
    """One line for a printed header: which weights and which flow estimator."""
    if checkpoint:
        return f"checkpoint {checkpoint} (with its own flow estimator)"
    return f"random weights (seed 0), width {width}; flow estimator: {FLOW_NOTES[flow]}"


def _status_mb(field: str) -> float:
    """A ``/proc/self/status`` memory field, MB."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1]) / 1024
    raise RuntimeError(f"/proc/self/status has no {field}")


def rss_mb() -> float:
    """This process's current resident memory (``VmRSS``), MB."""
    return _status_mb("VmRSS")


def peak_rss_mb() -> float:
    """This process's peak resident memory so far (``VmHWM``), MB.

    Not ``ru_maxrss``: a child started by ``subprocess`` (vfork + exec) inherits its parent's
    ``ru_maxrss``, so a worker would report at least the benchmark parent's peak.
    """
    return _status_mb("VmHWM")


def psnr_of_mse(mse: float) -> float:
    """PSNR in dB for signals in [0, 1] (inf for identical signals)."""
    return float("inf") if mse == 0 else float(10 * np.log10(1.0 / mse))
