"""Noise-level estimation from footage (``stbn denoise --sigma auto``).

A second-order high-pass (Immerkaer's 3x3 kernel, scaled to unit noise gain) cancels constant and
linear image content; the robust scale of its response (median absolute deviation / 0.6745)
estimates the std of white Gaussian noise. Edges and texture inflate that response, so only the
flattest pixels count: those with the lowest gradient of a smoothed copy of the frame (smoothing
makes the selection nearly independent of the noise, which would otherwise bias the estimate low).
"""

from __future__ import annotations

import numpy as np
from scipy import ndimage

_KERNEL = np.array([[1, -2, 1], [-2, 4, -2], [1, -2, 1]], dtype=np.float64) / 6.0  # sum of squares = 1
_MAD_TO_STD = 0.6744897501960817
_SMOOTH_SIGMA = 2.0
_FLAT_FRACTION = 0.25


def _channel_sigma(x: np.ndarray) -> float:
    """Noise std of one ``(H, W)`` channel."""
    residual = ndimage.convolve(x, _KERNEL, mode="reflect")[1:-1, 1:-1]
    smooth = ndimage.gaussian_filter(x, _SMOOTH_SIGMA)
    grad = np.hypot(ndimage.sobel(smooth, 0), ndimage.sobel(smooth, 1))[1:-1, 1:-1]
    flat = residual[grad <= np.quantile(grad, _FLAT_FRACTION)]
    return float(np.median(np.abs(flat)) / _MAD_TO_STD)


def estimate_sigma(frames: np.ndarray, max_frames: int = 8) -> float:
    """Estimate the white-noise std of ``(T, H, W, C)`` or ``(H, W, C)`` frames on their value scale
    (e.g. [0, 1]): the mean over channels, median over up to ``max_frames`` frames spread over the clip."""
    x = np.asarray(frames)
    if x.ndim == 3:
        x = x[None]
    if x.ndim != 4 or min(x.shape[1:3]) < 8:
        raise ValueError(f"estimate_sigma expects (T, H, W, C) or (H, W, C) frames of at least 8x8, got {x.shape}")
    idx = np.unique(np.linspace(0, x.shape[0] - 1, min(max_frames, x.shape[0])).round().astype(int))
    per_frame = [np.mean([_channel_sigma(x[i, ..., c].astype(np.float64)) for c in range(x.shape[3])]) for i in idx]
    return float(np.median(per_frame))
