"""The shift ensemble (``infer.shift_ensemble``): each pixel's estimate is the mean of its estimates in the
windows ``[dy:, dx:]`` of the clip that hold it, with or without the time ensemble."""

from __future__ import annotations

import pytest
import torch

from stbn.config import InferConfig

from test_streaming import DiffFlow, clip, denoised, small_net
from test_time_ensemble import PairFlow


def windows_mean(net, x, sigma, k, infer):
    """Reference: each window denoised on its own (its own flows), placed back and averaged per pixel;
    also whether every contributing estimate lies strictly inside (0, 1), where clamping commutes with the mean."""
    total, count = torch.zeros_like(x), torch.zeros(x.shape[-2:])
    inside = torch.ones_like(x, dtype=torch.bool)
    for dy in range(k):
        for dx in range(k):
            s = sigma[..., dy:, dx:] if isinstance(sigma, torch.Tensor) else sigma
            est = denoised(net, x[..., dy:, dx:], s, infer=infer)
            total[..., dy:, dx:] += est
            count[dy:, dx:] += 1
            inside[..., dy:, dx:] &= (est > 0) & (est < 1)
    return total / count, inside


@pytest.mark.parametrize(("in_channels", "k", "time_ensemble"), [(3, 2, False), (3, 4, True), (4, 3, False)])
def test_each_pixel_is_the_mean_over_the_windows_that_hold_it(in_channels, k, time_ensemble):
    net = small_net(in_channels, PairFlow() if time_ensemble else DiffFlow())
    x = clip(in_channels, 3)
    sigma = 0.1 if in_channels == 3 else None
    whole = InferConfig(streaming=False, time_ensemble=time_ensemble)
    expected, inside = windows_mean(net, x, sigma, k, whole)
    got = denoised(net, x, sigma, infer=whole.model_copy(update={"shift_ensemble": k}))
    plain = denoised(net, x, sigma, infer=whole)
    assert inside.float().mean() > 0.1
    assert (got - expected)[inside].abs().max() < 1e-5
    assert (got - plain)[..., k:, k:].abs().max() > 1e-3  # the windows really see other phases
    assert (got - plain)[..., 0, 0].abs().max() < 1e-5  # the corner is held by the unshifted clip only


def test_a_spatial_noise_map_is_cut_with_the_clip():
    net = small_net(3, DiffFlow(), noise_map=True)
    x = clip(3, 2)
    sigma = 0.05 + 0.2 * torch.rand(2, 1, 1, *x.shape[-2:])
    whole = InferConfig(streaming=False)
    expected, inside = windows_mean(net, x, sigma, 2, whole)
    got = denoised(net, x, sigma, infer=whole.model_copy(update={"shift_ensemble": 2}))
    assert (got - expected)[inside].abs().max() < 1e-5


@pytest.mark.parametrize(
    ("infer", "time_ensemble"),
    [({}, True), ({"spill": False, "segment": 2}, False), ({"tile": 8, "tile_overlap": 4}, False)],
)
def test_the_shift_ensemble_streams_like_the_whole_clip(infer, time_ensemble):
    """Streamed windows (spilled or recomputed, tiled or not) give each window's whole-clip estimate."""
    net = small_net(3, DiffFlow())
    x = clip(3, 3, n=1)
    tiles = {k: v for k, v in infer.items() if k.startswith("tile")}
    whole = InferConfig(streaming=False, shift_ensemble=2, time_ensemble=time_ensemble, **tiles)
    got = denoised(net, x, 0.1, infer=InferConfig(shift_ensemble=2, time_ensemble=time_ensemble, **infer))
    assert (got - denoised(net, x, 0.1, infer=whole)).abs().max() < 1e-5
