"""What warping does to noise: the argument of the paper's Figure 4, measured.

Pure Gaussian noise is backward-warped by a flow; we report the variance ratio (warped / original)
and the correlation of horizontally and vertically adjacent pixels, over output pixels whose sample
lies inside the frame. Nearest-neighbour warping by a constant shift copies distinct source pixels, so
it keeps the variance and leaves neighbours uncorrelated; bilinear warping averages four pixels, which
lowers the variance (``[(1-a)^2 + a^2][(1-b)^2 + b^2]`` for fractional parts a, b) and correlates
neighbours. A spatially varying flow that magnifies (a zoom) makes nearest warping copy some source
pixels twice, and those duplicates correlate neighbours too.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

from stbn.ops.warp import WarpMode, flow_warp

#: Figure 4's two flows (drawn by ``stbn figure figure4``, tested by the claims table): a constant
#: fractional shift and a zoom, on square noise of this size.
FIGURE4_SIZE = 256
FIGURE4_SHIFT = (0.37, -0.61)
FIGURE4_ZOOM = 1.25


@dataclass(frozen=True)
class WarpNoiseStats:
    """Statistics of warped unit Gaussian noise (see the module docstring)."""

    variance_ratio: float
    corr_x: float
    corr_y: float


def constant_flow(h: int, w: int, dx: float, dy: float) -> torch.Tensor:
    """``(2, H, W)`` float64 flow equal to ``(dx, dy)`` everywhere."""
    return torch.tensor([dx, dy], dtype=torch.float64).view(2, 1, 1).expand(2, h, w).clone()


def zoom_flow(h: int, w: int, scale: float) -> torch.Tensor:
    """``(2, H, W)`` float64 flow that magnifies the frame by ``scale`` about its centre.

    ``out(q) = in(c + (q - c) / scale)``, i.e. ``flow(q) = (q - c) (1/scale - 1)``.
    """
    ys = torch.arange(h, dtype=torch.float64) - (h - 1) / 2
    xs = torch.arange(w, dtype=torch.float64) - (w - 1) / 2
    k = 1.0 / scale - 1.0
    return torch.stack((k * xs.view(1, w).expand(h, w), k * ys.view(h, 1).expand(h, w)))


def figure4_flows(
    size: int = FIGURE4_SIZE, shift: tuple[float, float] = FIGURE4_SHIFT, zoom: float = FIGURE4_ZOOM
) -> dict[str, torch.Tensor]:
    """Figure 4's flows by name: ``shift (dx, dy) px`` and ``zoom x<scale>``, each ``(2, size, size)``."""
    return {
        f"shift ({shift[0]}, {shift[1]}) px": constant_flow(size, size, *shift),
        f"zoom x{zoom}": zoom_flow(size, size, zoom),
    }


def _inside(flow: torch.Tensor) -> torch.Tensor:
    """``(H, W)`` bool: the sample ``q + flow(q)`` lies within the frame (no zero padding involved)."""
    _, h, w = flow.shape
    px = torch.arange(w, dtype=flow.dtype).view(1, w) + flow[0]
    py = torch.arange(h, dtype=flow.dtype).view(h, 1) + flow[1]
    return (px >= 0) & (px <= w - 1) & (py >= 0) & (py <= h - 1)


def _pair_correlation(a: torch.Tensor, b: torch.Tensor) -> float:
    a = a - a.mean()
    b = b - b.mean()
    return float((a * b).sum() / (a.norm() * b.norm()))


def neighbour_correlation(x: torch.Tensor, valid: torch.Tensor) -> tuple[float, float]:
    """Pearson correlation of horizontally and vertically adjacent pixels of ``(H, W)`` ``x``,
    over pairs whose both pixels are ``valid``."""
    vx = valid[:, :-1] & valid[:, 1:]
    vy = valid[:-1, :] & valid[1:, :]
    return (
        _pair_correlation(x[:, :-1][vx], x[:, 1:][vx]),
        _pair_correlation(x[:-1, :][vy], x[1:, :][vy]),
    )


def warp_noise_stats(flow: torch.Tensor, mode: WarpMode, seed: int = 0) -> WarpNoiseStats:
    """Warp float64 unit Gaussian noise of the flow's size by ``flow`` ``(2, H, W)`` and measure it."""
    _, h, w = flow.shape
    gen = torch.Generator().manual_seed(seed)
    noise = torch.randn(1, 1, h, w, generator=gen, dtype=torch.float64)
    warped = flow_warp(noise, flow[None].to(torch.float64), mode)[0, 0]
    valid = _inside(flow)
    cx, cy = neighbour_correlation(warped, valid)
    return WarpNoiseStats(float(warped[valid].var() / noise.var()), cx, cy)


def nearest_duplicate_fraction(flow: torch.Tensor) -> float:
    """Fraction of horizontally adjacent in-frame pixel pairs that nearest warping by ``flow``
    ``(2, H, W)`` fills from the same source pixel."""
    _, h, w = flow.shape
    sx = torch.round(torch.arange(w, dtype=flow.dtype).view(1, w) + flow[0])
    sy = torch.round(torch.arange(h, dtype=flow.dtype).view(h, 1) + flow[1])
    valid = _inside(flow)
    pairs = valid[:, :-1] & valid[:, 1:]
    same = (sx[:, :-1] == sx[:, 1:]) & (sy[:, :-1] == sy[:, 1:])
    return float(same[pairs].double().mean())
