"""PWC-Net's cost volume in pure PyTorch (replaces the CuPy-only kernel of the official code).

``out[k](q) = (1/C) * sum_c f1[c](q) * f2[c](q + (dy, dx))`` for every displacement
``dy, dx in [-d, d]``, channel ``k = (dy + d) * (2d + 1) + (dx + d)``; ``f2`` is zero outside the frame
(STBN_SPEC.md section 5.1). PWC-Net uses ``d = 4``: 81 channels.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F


def correlation(f1: torch.Tensor, f2: torch.Tensor, max_displacement: int = 4) -> torch.Tensor:
    """Cost volume between two feature maps.

    Parameters
    ----------
    f1, f2
        Features ``(N, C, H, W)`` of the first and second image (same shape, dtype and device).
    max_displacement
        Largest displacement ``d`` in pixels along each axis.

    Returns
    -------
    torch.Tensor
        ``(N, (2d+1)**2, H, W)``; channel ``(dy + d) * (2d + 1) + (dx + d)`` holds the channel mean of
        ``f1(q) * f2(q + (dy, dx))``.
    """
    if f1.dim() != 4 or f1.shape != f2.shape:
        raise ValueError(
            f"correlation expects two (N,C,H,W) tensors of one shape, got {tuple(f1.shape)} and {tuple(f2.shape)}"
        )
    if max_displacement < 0:
        raise ValueError(f"correlation: max_displacement must be >= 0, got {max_displacement}")
    n, c, h, w = f1.shape
    d = max_displacement
    k = 2 * d + 1
    # Channels-last makes every per-displacement reduction run over contiguous memory; one product
    # per displacement keeps the working set at the size of the features (an unfold would hold 81x).
    a = f1.permute(0, 2, 3, 1)
    b = F.pad(f2, (d, d, d, d)).permute(0, 2, 3, 1)
    planes = [torch.linalg.vecdot(a, b[:, dy : dy + h, dx : dx + w], dim=-1) for dy in range(k) for dx in range(k)]
    return torch.stack(planes, dim=1) / c
