"""Backward warping of feature maps by a dense optical flow."""

from __future__ import annotations

from typing import Literal

import torch
import torch.nn.functional as F

WarpMode = Literal["nearest", "bilinear"]


def flow_warp(x: torch.Tensor, flow: torch.Tensor, mode: WarpMode = "nearest") -> torch.Tensor:
    """Backward-warp ``x`` so that ``out(q) = x(q + flow(q))``.

    Parameters
    ----------
    x
        Features to warp, ``(N, C, H, W)``.
    flow
        Displacement in pixels on the output grid, ``(N, 2, H, W)``; channel 0 is the x (width)
        displacement, channel 1 the y (height) displacement.
    mode
        ``"nearest"`` samples ``round(q + flow)`` (half to even), ``"bilinear"`` interpolates.
        Samples outside the frame are zero; there is no occlusion mask.

    Returns
    -------
    torch.Tensor
        The warped features, ``(N, C, H, W)``, same dtype and device as ``x``.
    """
    if x.dim() != 4 or flow.dim() != 4 or flow.shape[1] != 2:
        raise ValueError(
            f"flow_warp expects x (N,C,H,W) and flow (N,2,H,W); got {tuple(x.shape)} and {tuple(flow.shape)}"
        )
    if x.shape[0] != flow.shape[0] or x.shape[-2:] != flow.shape[-2:]:
        raise ValueError(f"flow_warp: batch/size mismatch between x {tuple(x.shape)} and flow {tuple(flow.shape)}")
    if mode not in ("nearest", "bilinear"):
        raise ValueError(f"flow_warp: unknown mode {mode!r} (nearest | bilinear)")
    _, _, h, w = x.shape
    ys = torch.arange(h, device=x.device, dtype=flow.dtype)
    xs = torch.arange(w, device=x.device, dtype=flow.dtype)
    px = xs.view(1, 1, w) + flow[:, 0]  # N,H,W
    py = ys.view(1, h, 1) + flow[:, 1]  # N,H,W
    # align_corners=True maps pixel centres 0..W-1 onto [-1, 1]
    gx = 2.0 * px / max(w - 1, 1) - 1.0
    gy = 2.0 * py / max(h - 1, 1) - 1.0
    grid = torch.stack((gx, gy), dim=-1).to(x.dtype)  # N,H,W,2
    return F.grid_sample(x, grid, mode=mode, padding_mode="zeros", align_corners=True)
