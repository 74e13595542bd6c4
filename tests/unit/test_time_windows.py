"""Time windows (``infer.time_window``, ``infer.window_stride``): each frame's estimate is the mean of its
estimates in the spans of the clip that hold it, each span denoised as a clip of its own; streamed like the
whole clip, with the other ensembles and flow re-estimation."""

from __future__ import annotations

import pytest
import torch
from pydantic import ValidationError

from stbn.config import InferConfig
from stbn.engine.schedule import time_windows

from test_streaming import DiffFlow, clip, denoised, small_net
from test_time_ensemble import PairFlow


@pytest.mark.parametrize(
    ("length", "window", "stride", "spans"),
    [
        (10, 0, 0, [(0, 10)]),
        (5, 6, 0, [(0, 5)]),
        (6, 6, 0, [(0, 6)]),
        (10, 4, 0, [(0, 4), (2, 6), (4, 8), (6, 10)]),
        (10, 5, 0, [(0, 5), (3, 8), (5, 10)]),
        (7, 3, 3, [(0, 3), (3, 6), (4, 7)]),
        (5, 3, 1, [(0, 3), (1, 4), (2, 5)]),
    ],
)
def test_spans_cover_the_clip_in_order(length, window, stride, spans):
    assert time_windows(length, window, stride) == spans


def spans_mean(net, x, sigma, spans, infer, reestimate=False):
    """Reference: each span denoised as a clip of its own (its own flows), averaged per frame; also whether
    every contributing estimate lies strictly inside (0, 1), where clamping commutes with the mean."""
    total, count = torch.zeros_like(x), torch.zeros(x.shape[1])
    inside = torch.ones_like(x, dtype=torch.bool)
    for lo, hi in spans:
        est = denoised(net, x[:, lo:hi], sigma, infer=infer, reestimate=reestimate)
        total[:, lo:hi] += est
        count[lo:hi] += 1
        inside[:, lo:hi] &= (est > 0) & (est < 1)
    return total / count[:, None, None, None], inside


@pytest.mark.parametrize(
    ("in_channels", "t_len", "window", "stride", "time_ensemble"),
    [(3, 7, 3, 0, False), (3, 6, 4, 1, True), (4, 5, 2, 2, False)],
)
def test_each_frame_is_the_mean_over_the_spans_that_hold_it(in_channels, t_len, window, stride, time_ensemble):
    net = small_net(in_channels, PairFlow() if time_ensemble else DiffFlow())
    x = clip(in_channels, t_len)
    sigma = 0.1 if in_channels == 3 else None
    whole = InferConfig(streaming=False, time_ensemble=time_ensemble)
    expected, inside = spans_mean(net, x, sigma, time_windows(t_len, window, stride), whole)
    got = denoised(net, x, sigma, infer=whole.model_copy(update={"time_window": window, "window_stride": stride}))
    plain = denoised(net, x, sigma, infer=whole)
    assert inside.float().mean() > 0.1
    assert (got - expected)[inside].abs().max() < 1e-5
    assert (got - plain).abs().max() > 1e-3  # the spans really see less of the clip


def test_a_window_holding_the_clip_is_the_whole_clip():
    net = small_net(3, DiffFlow())
    x = clip(3, 4)
    whole = InferConfig(streaming=False)
    got = denoised(net, x, 0.1, infer=whole.model_copy(update={"time_window": 4}))
    assert torch.equal(got, denoised(net, x, 0.1, infer=whole))


@pytest.mark.parametrize(
    "infer",
    [
        {"time_ensemble": True},
        {"spill": False, "segment": 2},
        {"tile": 8, "tile_overlap": 4},
        {"shift_ensemble": 2, "time_ensemble": True},
    ],
)
def test_time_windows_stream_like_the_whole_clip(infer):
    """Streamed spans (spilled or recomputed, tiled or not, in shift windows or not) give the whole-clip
    spans' estimates."""
    net = small_net(3, DiffFlow())
    x = clip(3, 6, n=1)
    windows = {"time_window": 3, "window_stride": 2}
    whole = {k: v for k, v in infer.items() if k not in ("spill", "segment")}
    expected = denoised(net, x, 0.1, infer=InferConfig(streaming=False, **windows, **whole))
    got = denoised(net, x, 0.1, infer=InferConfig(**windows, **infer))
    assert (got - expected).abs().max() < 1e-5


def test_reestimated_flows_are_estimated_per_span():
    net = small_net(3, DiffFlow())
    x = clip(3, 6, n=1)
    whole = InferConfig(streaming=False)
    expected, inside = spans_mean(net, x, 0.1, time_windows(6, 4, 2), whole, reestimate=True)
    got = denoised(net, x, 0.1, infer=InferConfig(time_window=4, window_stride=2), reestimate=True)
    assert (got - expected)[inside].abs().max() < 1e-5


def test_a_stride_longer_than_the_window_is_refused():
    with pytest.raises(ValidationError, match="window_stride 5 must be at most infer.time_window 4"):
        InferConfig(time_window=4, window_stride=5)
    with pytest.raises(ValidationError, match="window_stride 2 must be at most infer.time_window 0"):
        InferConfig(window_stride=2)
