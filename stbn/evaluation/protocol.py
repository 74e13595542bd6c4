"""The evaluation protocol (STBN_SPEC.md section 8): test sequences with their fixed noise, and scoring.

sRGB (Set8/DAVIS layout): the first ``max_frames`` frames of each sequence in sorted order, noise
``N(0, (sigma/255)^2)`` from a seed-0 generator per sequence, unclipped (or given noisy frames).
Raw (CRVD layout): clean ground truth and the real capture ``noisy0`` of each scene at one ISO.
Each sequence is denoised in one pass and scored per frame (:func:`stbn.evaluation.metrics.frame_metrics`).
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch

from stbn.config import ExperimentConfig, unit_sigma
from stbn.data.io import list_sequences, read_sequence
from stbn.data.noise import add_awgn_test
from stbn.data.raw import crvd_scenes, read_crvd_sequence
from stbn.engine import denoise
from stbn.errors import StbnError
from stbn.evaluation.metrics import frame_metrics
from stbn.models.registry import Denoiser


@dataclass
class EvalSequence:
    """One test clip: ``clean`` and ``noisy`` ``(T, H, W, C)`` float32; ``sigma`` on the [0, 1] scale
    (None for raw); ``labels`` extra columns of its rows (e.g. the ISO)."""

    name: str
    clean: np.ndarray
    noisy: np.ndarray
    sigma: float | None
    labels: dict[str, object] = field(default_factory=dict)


def srgb_test_sequences(
    root: str | Path, sigma_255: float, max_frames: int = 85, noisy_root: str | Path | None = None
) -> Iterator[EvalSequence]:
    """Sequences of a Set8/DAVIS-style ``root`` with the paper's seed-0 noise, or with the noisy frames
    of the same-named sequence folders under ``noisy_root``."""
    for folder in list_sequences(root):
        clean = read_sequence(folder, max_frames)
        if noisy_root is None:
            noisy = add_awgn_test(torch.from_numpy(clean), sigma_255, channels_last=True).numpy()
        else:
            noisy = read_sequence(Path(noisy_root) / folder.name, max_frames)
            if noisy.shape != clean.shape:
                where = Path(noisy_root) / folder.name
                raise StbnError(f"{where}: noisy frames {noisy.shape} do not match clean {clean.shape}")
        yield EvalSequence(folder.name, clean, noisy, unit_sigma(sigma_255))


def raw_test_sequences(root: str | Path, iso: int, max_frames: int = 7) -> Iterator[EvalSequence]:
    """CRVD scenes under ``root`` at ``iso``: clean ground truth and real noisy capture ``noisy0``."""
    scenes = crvd_scenes(Path(root))
    if not scenes:
        raise StbnError(f"{root}: no CRVD scenes (expected indoor_raw_gt/…scene<N>/)")
    for scene in scenes:
        clean = read_crvd_sequence(Path(root), scene, iso, realisation=None)[:max_frames]
        noisy = read_crvd_sequence(Path(root), scene, iso, realisation=0)[:max_frames]
        yield EvalSequence(f"scene{scene}", clean, noisy, None, {"iso": iso})


def denoise_sequence(net: Denoiser, seq: EvalSequence, cfg: ExperimentConfig) -> np.ndarray:
    """Denoise a whole test sequence in one pass as ``cfg`` says (its ``infer`` and ``speed`` sections, flow
    re-estimation): ``(T, H, W, C)`` float32 in [0, 1]. Used by ``stbn evaluate`` and by validation."""
    frames = (torch.from_numpy(f).permute(2, 0, 1)[None] for f in np.ascontiguousarray(seq.noisy))
    den = denoise(net, frames, seq.sigma, cfg.infer, cfg.speed, reestimate_flows=cfg.flow.reestimates)
    return np.stack([d[0].permute(1, 2, 0).cpu().numpy() for d in den])


def score_sequence(seq: EvalSequence, denoised: np.ndarray, kind: str) -> list[dict[str, object]]:
    """Per-frame rows ``{**labels, sequence, frame, psnr, ssim}``."""
    rows = []
    for t in range(denoised.shape[0]):
        p, s = frame_metrics(seq.clean[t], denoised[t], kind)
        rows.append({**seq.labels, "sequence": seq.name, "frame": t, "psnr": p, "ssim": s})
    return rows
