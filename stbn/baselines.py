"""Classical baselines, run on the same noisy frames as STBN and timed per frame.

Every method takes a noisy sequence ``(T, H, W, 3)`` (float, [0, 1] scale, unclipped AWGN as the
paper's protocol adds it) and the known noise level ``sigma`` on the 0-255 scale, and yields one
denoised frame ``(H, W, 3)`` float32 clamped to [0, 1] with the wall time spent on it (``noisy`` also
takes packed raw ``(T, H, W, 4)``: the raw input row). Settings
(fixed rules, never tuned on test data; see docs/report.md):

- ``noisy``: the input itself (clamped), the reference row.
- ``bm3d``: colour BM3D per frame (``bm3d.bm3d_rgb``, default profile, sigma given).
- ``nlm-opencv``: OpenCV's multi-frame non-local means on a centred temporal window (shrunk at the
  sequence ends so that it stays centred); OpenCV takes 8-bit frames, so the noisy frames are clipped
  and rounded to uint8 first. ``h = 0.7 sigma``, ``hColor = 0.6 sigma``, 7x7 patches, 21x21 search.
- ``nlm-skimage``: scikit-image's non-local means per frame, fast mode, ``sigma`` given,
  ``h = 0.6 sigma``, 5x5 patches, distance 6 (the library's documented recipe for a known sigma).
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator

import numpy as np

from stbn.errors import StbnError

METHODS: tuple[str, ...] = ("noisy", "bm3d", "nlm-opencv", "nlm-skimage")
TEMPORAL_WINDOW = 5


def _bm3d(noisy: np.ndarray, t: int, sigma: float) -> np.ndarray:
    import bm3d

    return bm3d.bm3d_rgb(noisy[t], sigma / 255.0)


def _nlm_skimage(noisy: np.ndarray, t: int, sigma: float) -> np.ndarray:
    from skimage.restoration import denoise_nl_means

    s = sigma / 255.0
    return denoise_nl_means(
        noisy[t], h=0.6 * s, sigma=s, fast_mode=True, patch_size=5, patch_distance=6, channel_axis=-1
    )


def _nlm_opencv(noisy: np.ndarray, t: int, sigma: float) -> np.ndarray:
    import cv2

    half = min(TEMPORAL_WINDOW // 2, t, noisy.shape[0] - 1 - t)
    window = np.clip(np.rint(noisy[t - half : t + half + 1] * 255.0), 0, 255).astype(np.uint8)
    frames = [np.ascontiguousarray(f) for f in window]
    out = cv2.fastNlMeansDenoisingColoredMulti(frames, half, 2 * half + 1, None, 0.7 * sigma, 0.6 * sigma, 7, 21)
    return out.astype(np.float32) / 255.0


def _noisy(noisy: np.ndarray, t: int, sigma: float) -> np.ndarray:
    return noisy[t]


_FUNCS: dict[str, Callable[[np.ndarray, int, float], np.ndarray]] = {
    "noisy": _noisy,
    "bm3d": _bm3d,
    "nlm-opencv": _nlm_opencv,
    "nlm-skimage": _nlm_skimage,
}


def denoise_sequence(noisy: np.ndarray, sigma: float | None, method: str) -> Iterator[tuple[np.ndarray, float]]:
    """Denoise ``noisy`` ``(T, H, W, 3)`` frame by frame with ``method``.

    Yields ``(frame, seconds)``: the ``(H, W, 3)`` float32 estimate clamped to [0, 1] and the wall
    time of that frame alone. ``sigma`` is the AWGN standard deviation on the 0-255 scale (unused by,
    and optional for, ``noisy``).
    """
    if method not in _FUNCS:
        raise StbnError(f"unknown baseline method {method!r} (choose from {', '.join(METHODS)})")
    if noisy.ndim != 4 or (method != "noisy" and noisy.shape[-1] != 3):
        raise StbnError(f"baseline {method} needs an RGB sequence (T, H, W, 3), got shape {noisy.shape}")
    if method != "noisy" and not (sigma is not None and sigma > 0):
        raise StbnError(f"baseline {method}: sigma must be positive, got {sigma}")
    func = _FUNCS[method]
    noisy = np.ascontiguousarray(noisy, dtype=np.float32)
    for t in range(noisy.shape[0]):
        start = time.perf_counter()
        out = func(noisy, t, sigma or 0.0)
        seconds = time.perf_counter() - start
        yield np.clip(out, 0.0, 1.0).astype(np.float32), seconds
