"""Blind-spot building blocks: the centrally-masked conv, dilated residual blocks, the DBSNl
step network and the dilated fusion/head stacks (``D_dilate`` in the published code).

Blindness is a lattice property (STBN_SPEC.md section 2.2): one masked 3x3 followed only by 1x1 and
dilation-2 convolutions reaches offsets ``2a + b`` with ``b != 0``, never an (even, even) offset.
"""

from __future__ import annotations

import torch
import torch.nn as nn
import torch.nn.functional as F


class CentralMaskedConv2d(nn.Conv2d):
    """A ``k x k`` convolution whose centre tap is zero for every in/out channel pair.

    The mask is applied functionally on every forward, so the stored weight may be anything and
    no optimizer step can make the centre tap count.
    """

    def __init__(self, in_channels: int, out_channels: int, kernel_size: int = 3) -> None:
        super().__init__(in_channels, out_channels, kernel_size, padding=kernel_size // 2)
        mask = torch.ones(1, 1, kernel_size, kernel_size)
        mask[:, :, kernel_size // 2, kernel_size // 2] = 0
        self.register_buffer("mask", mask, persistent=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """``(N, C_in, H, W) -> (N, C_out, H, W)``."""
        return F.conv2d(x, self.weight * self.mask, self.bias, padding=self.padding)


class DilatedResBlock(nn.Module):
    """``x + Conv1x1(ReLU(Conv3x3(x, dilation=2, groups)))``: moves information by even offsets only."""

    def __init__(self, channels: int, groups: int = 1) -> None:
        super().__init__()
        self.body = nn.Sequential(
            nn.Conv2d(channels, channels, 3, padding=2, dilation=2, groups=groups),
            nn.ReLU(inplace=True),
            nn.Conv2d(channels, channels, 1),
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """``(N, C, H, W) -> (N, C, H, W)``."""
        return x + self.body(x)


class DBSNl(nn.Module):
    """The light dilated blind-spot network run at every recurrent step (``forward_rnn``/``backward_rnn``).

    head (1x1 + ReLU) -> masked 3x3 + ReLU -> 2 x (1x1 + ReLU) -> ``num_blocks`` dilated residual
    blocks -> 1x1 + ReLU -> tail (1x1 + ReLU, 1x1 + ReLU, 1x1). All convolutions have a bias.
    """

    def __init__(self, in_channels: int, out_channels: int, base_channels: int = 64, num_blocks: int = 5) -> None:
        super().__init__()
        if base_channels % 2:
            raise ValueError(f"DBSNl base_channels must be even, got {base_channels}")
        c = base_channels
        self.head = nn.Sequential(nn.Conv2d(in_channels, c, 1), nn.ReLU(inplace=True))
        self.branch = nn.Sequential(
            CentralMaskedConv2d(c, c, 3),
            nn.ReLU(inplace=True),
            nn.Conv2d(c, c, 1),
            nn.ReLU(inplace=True),
            nn.Conv2d(c, c, 1),
            nn.ReLU(inplace=True),
            *[DilatedResBlock(c) for _ in range(num_blocks)],
            nn.Conv2d(c, c, 1),
            nn.ReLU(inplace=True),
        )
        self.tail = nn.Sequential(
            nn.Conv2d(c, c // 2, 1),
            nn.ReLU(inplace=True),
            nn.Conv2d(c // 2, c // 2, 1),
            nn.ReLU(inplace=True),
            nn.Conv2d(c // 2, out_channels, 1),
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """``(N, C_in, H, W) -> (N, C_out, H, W)``."""
        return self.tail(self.branch(self.head(x)))


class DilatedStack(nn.Module):
    """``D_dilate``: 1x1 (no bias) -> ``num_blocks`` dilated residual blocks -> 1x1 (no bias).

    Used as the BSA fusion (``concat``, 2C -> C, shared by both directions) and as the output head.
    It has no mask: it keeps blindness because every spatial tap is at an even offset.
    """

    def __init__(self, in_channels: int, mid_channels: int, out_channels: int, num_blocks: int) -> None:
        super().__init__()
        self.layers = nn.Sequential(
            nn.Conv2d(in_channels, mid_channels, 1, bias=False),
            *[DilatedResBlock(mid_channels) for _ in range(num_blocks)],
            nn.Conv2d(mid_channels, out_channels, 1, bias=False),
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """``(N, C_in, H, W) -> (N, C_out, H, W)``."""
        return self.layers(x)
