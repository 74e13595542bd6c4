"""PSNR and SSIM exactly as the paper's protocol (STBN_SPEC.md section 8), and their aggregation.

Frames are float arrays ``(H, W, C)``. sRGB: PSNR on float [0, 1] against the clipped clean frame,
SSIM with an 11x11 Gaussian window (sigma 1.5), data range 1, mean over channels. Raw (packed RGGB,
normalised): the output is re-quantised to the sensor's uint16 levels first, then PSNR with data
range 1 and the mean of per-channel SSIM with skimage's default 7x7 uniform window (FloRNN).
Scores are averaged over frames, then sequences (raw: then ISOs): :func:`hierarchical_mean`.
All maths is float64, as scikit-image's.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Literal

import numpy as np
from scipy import ndimage

K1, K2 = 0.01, 0.03
GAUSS_SIGMA, GAUSS_TRUNCATE = 1.5, 3.5
UNIFORM_WIN = 7
RAW_BLACK, RAW_SPAN = 240, 3855


def psnr(reference: np.ndarray, test: np.ndarray, data_range: float = 1.0) -> float:
    """``10 log10(data_range^2 / MSE)`` over all elements (inf for identical inputs)."""
    if reference.shape != test.shape:
        raise ValueError(f"psnr: shapes differ {reference.shape} vs {test.shape}")
    mse = np.mean((reference.astype(np.float64) - test.astype(np.float64)) ** 2)
    return float(10.0 * np.log10(data_range**2 / mse)) if mse > 0 else float("inf")


def ssim(
    reference: np.ndarray, test: np.ndarray, data_range: float = 1.0, gaussian: bool = True
) -> float:
    """Mean SSIM of ``(H, W, C)`` images: per channel, then the mean over channels.

    ``gaussian``: 11x11 Gaussian window (sigma 1.5, truncated at 3.5 sigma); else a 7x7 uniform window.
    Local statistics use the sample-covariance normalisation and reflect padding, and the border of
    half a window is left out of the mean, as scikit-image's ``structural_similarity``.
    """
    if reference.shape != test.shape or reference.ndim != 3:
        raise ValueError(f"ssim: expected two (H, W, C) arrays of one shape, got {reference.shape} and {test.shape}")
    x = reference.astype(np.float64)
    y = test.astype(np.float64)
    if gaussian:
        win = 2 * int(GAUSS_TRUNCATE * GAUSS_SIGMA + 0.5) + 1

        def local_mean(a: np.ndarray) -> np.ndarray:
            sigma = (GAUSS_SIGMA, GAUSS_SIGMA, 0)
            return ndimage.gaussian_filter(a, sigma=sigma, truncate=GAUSS_TRUNCATE, mode="reflect")
    else:
        win = UNIFORM_WIN

        def local_mean(a: np.ndarray) -> np.ndarray:
            return ndimage.uniform_filter(a, size=(win, win, 1), mode="reflect")

    if min(x.shape[:2]) < win:
        raise ValueError(f"ssim: image {x.shape[:2]} is smaller than the {win}x{win} window")
    n = win * win
    cov_norm = n / (n - 1)
    mx, my = local_mean(x), local_mean(y)
    vx = cov_norm * (local_mean(x * x) - mx * mx)
    vy = cov_norm * (local_mean(y * y) - my * my)
    vxy = cov_norm * (local_mean(x * y) - mx * my)
    c1, c2 = (K1 * data_range) ** 2, (K2 * data_range) ** 2
    s = ((2 * mx * my + c1) * (2 * vxy + c2)) / ((mx**2 + my**2 + c1) * (vx + vy + c2))
    pad = (win - 1) // 2
    return float(s[pad:-pad, pad:-pad].mean(axis=(0, 1)).mean())


def requantize_raw(x: np.ndarray) -> np.ndarray:
    """Normalised raw ``[0, 1]`` -> the sensor's uint16 levels -> normalised (RViDeNet): clamp first."""
    levels = (np.clip(x, 0.0, 1.0).astype(np.float64) * RAW_SPAN + RAW_BLACK).astype(np.uint16)
    return (levels.astype(np.float64) - RAW_BLACK) / RAW_SPAN


def _protocol_pair(clean: np.ndarray, denoised: np.ndarray, kind: str) -> tuple[np.ndarray, np.ndarray]:
    if kind == "srgb":
        return np.clip(clean, 0.0, 1.0), denoised
    if kind == "raw":
        return clean, requantize_raw(denoised)
    raise ValueError(f"unknown data kind {kind!r} (srgb | raw)")


def frame_psnr(clean: np.ndarray, denoised: np.ndarray, kind: Literal["srgb", "raw"] = "srgb") -> float:
    """PSNR of one frame by the paper's protocol for ``kind`` (the PSNR of :func:`frame_metrics`)."""
    return psnr(*_protocol_pair(clean, denoised, kind))


def frame_metrics(
    clean: np.ndarray, denoised: np.ndarray, kind: Literal["srgb", "raw"] = "srgb"
) -> tuple[float, float]:
    """``(psnr, ssim)`` of one ``(H, W, C)`` frame by the paper's protocol for ``kind``."""
    ref, out = _protocol_pair(clean, denoised, kind)
    return psnr(ref, out), ssim(ref, out, gaussian=kind == "srgb")


def hierarchical_mean(rows: Sequence[Mapping[str, object]], keys: Sequence[str], value: str) -> float:
    """Average ``value`` over rows within the finest group, then group by group up to the first key.

    ``keys=("sequence",)``: mean over frames per sequence, then over sequences. ``keys=("iso",
    "sequence")``: frames -> sequence (scene) -> ISO -> dataset.
    """
    if not rows:
        raise ValueError("hierarchical_mean: no rows")
    if not keys:
        return float(np.mean([float(r[value]) for r in rows]))
    groups: dict[object, list[Mapping[str, object]]] = {}
    for r in rows:
        groups.setdefault(r[keys[0]], []).append(r)
    return float(np.mean([hierarchical_mean(g, keys[1:], value) for g in groups.values()]))


def summarise(rows: Sequence[Mapping[str, object]], keys: Sequence[str] = ("sequence",)) -> dict[str, object]:
    """Dataset PSNR/SSIM (``hierarchical_mean``) plus per-sequence means and frame counts."""
    seqs: dict[str, list[Mapping[str, object]]] = {}
    for r in rows:
        seqs.setdefault("/".join(str(r[k]) for k in keys), []).append(r)
    return {
        "psnr": hierarchical_mean(rows, keys, "psnr"),
        "ssim": hierarchical_mean(rows, keys, "ssim"),
        "frames": len(rows),
        "sequences": {
            name: {"psnr": hierarchical_mean(g, (), "psnr"), "ssim": hierarchical_mean(g, (), "ssim"), "frames": len(g)}
            for name, g in seqs.items()
        },
    }
