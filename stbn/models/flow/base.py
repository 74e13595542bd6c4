"""The optical-flow estimator interface shared by every estimator, and the zero-flow estimator."""

from __future__ import annotations

import torch
import torch.nn as nn


class FlowEstimator(nn.Module):
    """Frames in, forward and backward flows out.

    ``forward(frames)`` takes ``(N, T, 3, H, W)`` RGB frames and returns ``(fwd, bwd)``, each
    ``(N, T-1, 2, H, W)`` in pixels, channel 0 = x displacement:

    - ``fwd[:, t-1]`` lives on the grid of frame t and points into frame t-1 (it aligns frame t-1 to t);
    - ``bwd[:, t]`` lives on the grid of frame t and points into frame t+1 (it aligns frame t+1 to t).
    """

    def forward(self, frames: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:  # pragma: no cover - interface
        """Estimate ``(fwd, bwd)`` flows for ``(N, T, 3, H, W)`` frames."""
        raise NotImplementedError


class ZeroFlow(FlowEstimator):
    """No alignment (the ablation without flow): both flows are zero."""

    def forward(self, frames: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """``(N, T, 3, H, W) -> 2 x (N, T-1, 2, H, W)`` zeros."""
        n, t, _, h, w = frames.shape
        z = frames.new_zeros(n, max(t - 1, 0), 2, h, w)
        return z, z.clone()
