"""Classical baselines, run on the same noisy frames as STBN and timed per frame.

Every method takes a noisy sequence ``(T, H, W, 3)`` (float, [0, 1] scale, unclipped AWGN as the
paper's protocol adds it) and the known noise level ``sigma_255`` on the 0-255 scale, and yields one
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
from concurrent.futures import ProcessPoolExecutor

import numpy as np

from stbn.config import unit_sigma
from stbn.errors import StbnError

METHODS: tuple[str, ...] = ("noisy", "bm3d", "nlm-opencv", "nlm-skimage")
TEMPORAL_WINDOW = 5

# Each method denoises the centre frame of a window ``(2k+1, H, W, C)`` of the noisy sequence: one
# frame for the per-frame methods, the centred temporal window for OpenCV's multi-frame NLM.


def _bm3d(window: np.ndarray, sigma_255: float) -> np.ndarray:
    import bm3d

    return bm3d.bm3d_rgb(window[len(window) // 2], unit_sigma(sigma_255))


def _nlm_skimage(window: np.ndarray, sigma_255: float) -> np.ndarray:
    from skimage.restoration import denoise_nl_means

    s = unit_sigma(sigma_255)
    frame = window[len(window) // 2]
    return denoise_nl_means(frame, h=0.6 * s, sigma=s, fast_mode=True, patch_size=5, patch_distance=6, channel_axis=-1)


def _nlm_opencv(window: np.ndarray, sigma_255: float) -> np.ndarray:
    import cv2

    frames = [np.ascontiguousarray(f) for f in np.clip(np.rint(window * 255.0), 0, 255).astype(np.uint8)]
    half = len(frames) // 2
    h, h_color = 0.7 * sigma_255, 0.6 * sigma_255
    out = cv2.fastNlMeansDenoisingColoredMulti(frames, half, 2 * half + 1, None, h, h_color, 7, 21)
    return out.astype(np.float32) / 255.0


def _noisy(window: np.ndarray, sigma_255: float) -> np.ndarray:
    return window[len(window) // 2]


_FUNCS: dict[str, Callable[[np.ndarray, float], np.ndarray]] = {
    "noisy": _noisy,
    "bm3d": _bm3d,
    "nlm-opencv": _nlm_opencv,
    "nlm-skimage": _nlm_skimage,
}


def _window(noisy: np.ndarray, t: int, method: str) -> np.ndarray:
    """Frame ``t`` alone, or for OpenCV the temporal window centred on it (shrunk at the ends)."""
    half = min(TEMPORAL_WINDOW // 2, t, noisy.shape[0] - 1 - t) if method == "nlm-opencv" else 0
    return noisy[t - half : t + half + 1]


def _timed(method: str, window: np.ndarray, sigma_255: float) -> tuple[np.ndarray, float]:
    start = time.perf_counter()
    out = _FUNCS[method](window, sigma_255)
    seconds = time.perf_counter() - start
    return np.clip(out, 0.0, 1.0).astype(np.float32), seconds


def denoise_sequence(
    noisy: np.ndarray, sigma_255: float | None, method: str, workers: int = 1
) -> Iterator[tuple[np.ndarray, float]]:
    """Denoise ``noisy`` ``(T, H, W, 3)`` frame by frame with ``method``.

    Yields ``(frame, seconds)`` in frame order: the ``(H, W, 3)`` float32 estimate clamped to [0, 1]
    and the wall time of that frame alone. ``sigma_255`` is the AWGN standard deviation on the 0-255 scale
    (unused by, and optional for, ``noisy``). ``workers > 1`` denoises that many frames at once in
    separate processes (each frame still timed alone).
    """
    if method not in _FUNCS:
        raise StbnError(f"unknown baseline method {method!r} (choose from {', '.join(METHODS)})")
    if noisy.ndim != 4 or (method != "noisy" and noisy.shape[-1] != 3):
        raise StbnError(f"baseline {method} needs an RGB sequence (T, H, W, 3), got shape {noisy.shape}")
    if method != "noisy" and not (sigma_255 is not None and sigma_255 > 0):
        raise StbnError(f"baseline {method}: sigma must be positive, got {sigma_255}")
    if workers < 1:
        raise StbnError(f"workers must be >= 1, got {workers}")
    noisy = np.ascontiguousarray(noisy, dtype=np.float32)
    windows = (_window(noisy, t, method) for t in range(noisy.shape[0]))
    if workers == 1 or method == "noisy":
        for window in windows:
            yield _timed(method, window, sigma_255 or 0.0)
        return
    with ProcessPoolExecutor(max_workers=workers) as pool:
        futures = [pool.submit(_timed, method, window, sigma_255 or 0.0) for window in windows]
        for future in futures:
            yield future.result()
