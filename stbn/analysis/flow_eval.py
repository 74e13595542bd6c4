"""Flow accuracy on known translations of a real still image (the DIS acceptance measurement).

A two-frame clip is the image and a copy translated by ``(dx, dy)`` px (cubic-spline resampling);
both frames get independent Gaussian noise. The true flows are then constant: ``fwd = -(dx, dy)``
(frame 1 into frame 0) and ``bwd = +(dx, dy)`` (frame 0 into frame 1).
"""

from __future__ import annotations

import numpy as np
import torch
from scipy import ndimage

from stbn.models.flow.base import FlowEstimator


def translate(image: np.ndarray, dx: float, dy: float) -> np.ndarray:
    """``(C, H, W)`` float image moved by ``(dx, dy)`` px: ``out(q) = image(q - (dx, dy))``."""
    return np.stack([ndimage.shift(c, (dy, dx), order=3, mode="reflect") for c in image])


def translated_clip(image: np.ndarray, dx: float, dy: float, sigma: float, seed: int) -> torch.Tensor:
    """Noisy ``(1, 2, C, H, W)`` float32 clip: ``image`` then ``translate(image, dx, dy)``, plus
    N(0, sigma^2) noise (not clipped)."""
    rng = np.random.default_rng(seed)
    frames = np.stack([image, translate(image, dx, dy)])
    frames = frames + rng.normal(0.0, sigma, frames.shape)
    return torch.from_numpy(frames[None].astype(np.float32))


def end_point_error(flow: torch.Tensor, dx: float, dy: float, margin: int) -> float:
    """Mean end-point error of ``(..., 2, H, W)`` flows against the constant ``(dx, dy)`` in the interior."""
    inner = flow[..., margin : flow.shape[-2] - margin, margin : flow.shape[-1] - margin]
    err = torch.hypot(inner[..., 0, :, :] - dx, inner[..., 1, :, :] - dy)
    return float(err.mean())


def clip_epe(estimator: FlowEstimator, clip: torch.Tensor, dx: float, dy: float, margin: int = 16) -> float:
    """Mean interior end-point error of both flows of ``estimator`` on a :func:`translated_clip`."""
    with torch.no_grad():
        fwd, bwd = estimator(clip)
    return 0.5 * (end_point_error(fwd, -dx, -dy, margin) + end_point_error(bwd, dx, dy, margin))
