"""Spatial Receptive-Field Expansion (SRFE): fuse the forward and backward states in the
patch-unshuffled domain, where every dilation-2 tap reaches 4 input pixels.
"""

from __future__ import annotations

import torch
import torch.nn as nn
import torch.nn.functional as F

from stbn.models.blindspot import DilatedResBlock
from stbn.ops import shuffle


class ResidualGroup(nn.Module):
    """``x + blocks(x)`` over ``num_blocks`` grouped dilated residual blocks (the paper's RCAB,
    which has no channel attention in the published code)."""

    def __init__(self, channels: int, num_blocks: int, groups: int) -> None:
        super().__init__()
        self.blocks = nn.Sequential(*[DilatedResBlock(channels, groups=groups) for _ in range(num_blocks)])

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """``(N, C, H, W) -> (N, C, H, W)``."""
        return x + self.blocks(x)


class SRFE(nn.Module):
    """Fuse forward and backward features ``(N, C, H, W)`` each into ``(N, C, H, W)``.

    Pad bottom/right to a multiple of 4, patch-unshuffle each input to ``4C`` channels at half size,
    concatenate (``8C``), head 3x3 dil-2 conv to ``features`` channels, ``num_groups`` residual groups
    of ``num_blocks`` grouped blocks, tail (3x3 dil-2, 1x1, 1x1) back to ``4C``, patch-shuffle, crop.
    ``features`` defaults to ``4C`` (the published width).
    """

    def __init__(
        self,
        channels: int = 64,
        features: int | None = None,
        num_groups: int = 2,
        num_blocks: int = 8,
        conv_groups: int = 2,
    ) -> None:
        super().__init__()
        f = 4 * channels if features is None else features
        if f % conv_groups:
            raise ValueError(f"SRFE features ({f}) must be divisible by conv_groups ({conv_groups})")
        self.head = nn.Conv2d(8 * channels, f, 3, padding=2, dilation=2)
        self.body = nn.Sequential(*[ResidualGroup(f, num_blocks, conv_groups) for _ in range(num_groups)])
        self.tail = nn.Sequential(
            nn.Conv2d(f, f, 3, padding=2, dilation=2),
            nn.Conv2d(f, f, 1),
            nn.Conv2d(f, 4 * channels, 1),
        )

    def forward(self, fwd: torch.Tensor, bwd: torch.Tensor) -> torch.Tensor:
        """``(N, C, H, W), (N, C, H, W) -> (N, C, H, W)``."""
        if fwd.shape != bwd.shape:
            raise ValueError(f"SRFE inputs differ in shape: {tuple(fwd.shape)} vs {tuple(bwd.shape)}")
        h, w = fwd.shape[-2:]
        pad = (0, (-w) % 4, 0, (-h) % 4)
        x = torch.cat(
            [shuffle.patch_unshuffle(F.pad(fwd, pad)), shuffle.patch_unshuffle(F.pad(bwd, pad))], dim=1
        )
        x = self.tail(self.body(self.head(x)))
        return shuffle.patch_shuffle(x)[..., :h, :w]
