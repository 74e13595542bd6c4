"""Vertically causal building ops of UDVD (UDVD_SPEC.md section 2): row shifts, quarter turns and the
padding of a frame to a square.

A feature map is *vertically causal* when its row ``r`` depends only on input rows ``<= r``; one
:func:`shift_down` more makes it strictly causal (rows ``< r``). Running such a network on the four
quarter turns of a square input and turning the results back gives four maps that see the half-planes
above, right of, below and left of each pixel, none of them the pixel itself.
"""

from __future__ import annotations

from typing import Literal

import torch
import torch.nn.functional as F

SquarePad = Literal["zeros", "reflect"]


def shift_down(x: torch.Tensor, rows: int = 1) -> torch.Tensor:
    """Move every column ``rows`` rows down: zeros enter at the top, the bottom rows drop out.

    ``(..., H, W) -> (..., H, W)``; row ``r`` of the result is row ``r - rows`` of ``x``.
    """
    if rows <= 0:
        raise ValueError(f"shift_down: rows must be positive, got {rows}")
    return F.pad(x, (0, 0, rows, 0))[..., : x.shape[-2], :]


def rotate(x: torch.Tensor, quarter_turns: int) -> torch.Tensor:
    """Turn the last two dimensions clockwise by ``quarter_turns`` x 90 degrees (negative: anticlockwise).

    ``(..., H, W) -> (..., W, H)`` for odd turns; one turn maps ``out[i, j] = x[H - 1 - j, i]``.
    """
    return torch.rot90(x, -quarter_turns, dims=(-2, -1))


def square_offset(height: int, width: int) -> tuple[int, int]:
    """``(top, left)`` of an ``height x width`` frame inside its :func:`pad_to_square` square: the padding
    is split evenly, the odd row or column going to the bottom or right."""
    lo = abs(width - height) // 2
    return (lo, 0) if width > height else (0, lo)


def pad_to_square(x: torch.Tensor, mode: SquarePad = "zeros") -> torch.Tensor:
    """Pad ``(N, C, H, W)`` to ``(N, C, S, S)``, ``S = max(H, W)``, with ``x`` at :func:`square_offset`.

    ``reflect`` is the published code's choice; it copies pixels of the frame into the padding, where a
    causal branch can see a pixel's own mirror image (UDVD_SPEC.md section 7.1), so UDVD uses ``zeros``.
    """
    if mode not in ("zeros", "reflect"):
        raise ValueError(f"pad_to_square: unknown mode {mode!r} (zeros | reflect)")
    h, w = x.shape[-2:]
    if h == w:
        return x
    top, left = square_offset(h, w)
    s = max(h, w)
    pad = (left, s - w - left, top, s - h - top)
    return F.pad(x, pad) if mode == "zeros" else F.pad(x, pad, mode="reflect")
