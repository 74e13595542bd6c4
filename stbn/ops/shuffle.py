"""PUCA-style patch (un)shuffle: the parity-preserving downsampling used inside SRFE.

Unlike ``torch.pixel_unshuffle``, which stacks pixels at odd offsets into channels, this op splits
each 4x4 tile into its four 2x2 quadrants and moves the quadrant index to channels. Adjacent pixels of
a quadrant stay adjacent, and channels at one location differ by even offsets only, so convolutions
with dilation 2 in the unshuffled domain never mix pixels of different (row, col) parity.
"""

from __future__ import annotations

import torch


def patch_unshuffle(x: torch.Tensor) -> torch.Tensor:
    """``(N, C, H, W) -> (N, 4C, H/2, W/2)``, H and W multiples of 4.

    ``out[c*4 + 2*hn + wn, 2*hd + hh, 2*wd + ww] = x[c, 4*hd + 2*hn + hh, 4*wd + 2*wn + ww]``.
    """
    n, c, h, w = x.shape
    if h % 4 or w % 4:
        raise ValueError(f"patch_unshuffle needs H and W multiples of 4, got {h}x{w}")
    hd, wd = h // 4, w // 4
    # axes: n c hd hn hh wd wn ww
    t = x.reshape(n, c, hd, 2, 2, wd, 2, 2)
    t = t.permute(0, 1, 3, 6, 2, 4, 5, 7)  # n c hn wn hd hh wd ww
    return t.reshape(n, c * 4, hd * 2, wd * 2)


def patch_shuffle(x: torch.Tensor) -> torch.Tensor:
    """Exact inverse of :func:`patch_unshuffle`: ``(N, 4C, H/2, W/2) -> (N, C, H, W)``."""
    n, c4, h2, w2 = x.shape
    if c4 % 4 or h2 % 2 or w2 % 2:
        raise ValueError(f"patch_shuffle needs 4C channels and even sizes, got {tuple(x.shape)}")
    c, hd, wd = c4 // 4, h2 // 2, w2 // 2
    t = x.reshape(n, c, 2, 2, hd, 2, wd, 2)  # n c hn wn hd hh wd ww
    t = t.permute(0, 1, 4, 2, 5, 6, 3, 7)  # n c hd hn hh wd wn ww
    return t.reshape(n, c, hd * 4, wd * 4)
