"""The time-reversal ensemble (``infer.time_ensemble``): the mean of the estimates of the clip and of the
clip in reverse time order, the same for whole-clip, streamed and tiled runs."""

from __future__ import annotations

import pytest
import torch

from stbn.config import InferConfig
from stbn.models.flow import FlowEstimator

from test_streaming import DiffFlow, clip, denoised, small_net


class PairFlow(FlowEstimator):
    """A pairwise, asymmetric estimator that is consistent under time reversal, like DIS: the backward
    flow of the pair (a, b) is the forward flow of the pair (b, a)."""

    @staticmethod
    def _one_way(src: torch.Tensor, dst: torch.Tensor) -> torch.Tensor:
        return 5.0 * (dst - src)[:, :, :2] + 2.0 * src[:, :, 1:]

    def forward(self, frames: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        a, b = frames[:, :-1], frames[:, 1:]
        return self._one_way(a, b), self._one_way(b, a)


@pytest.mark.parametrize("in_channels", [3, 4])
def test_whole_clip_ensemble_is_the_mean_of_the_clip_and_its_reversal(in_channels):
    """With an estimator consistent under reversal, denoising the reversed clip from scratch (its own
    flows) and flipping back must give the reversed half of the ensemble: this pins the flow convention."""
    net = small_net(in_channels, PairFlow())
    x = clip(in_channels, 5)
    sigma = 0.1 if in_channels == 3 else None
    whole = InferConfig(streaming=False)
    plain = denoised(net, x, sigma, infer=whole)
    backwards = denoised(net, x.flip(1), sigma, infer=whole).flip(1)
    got = denoised(net, x, sigma, infer=whole.model_copy(update={"time_ensemble": True}))
    assert (plain - backwards).abs().max() > 1e-3  # the two directions really differ
    expected = (0.5 * (plain + backwards)).clamp(0, 1)
    interior = (plain > 0) & (plain < 1) & (backwards > 0) & (backwards < 1)  # clamping before/after the mean
    assert (got - expected)[interior].abs().max() < 1e-5


@pytest.mark.parametrize(("in_channels", "t_len"), [(3, 1), (3, 2), (3, 7), (4, 6)])
@pytest.mark.parametrize(("spill", "segment"), [(True, 0), (False, 0), (False, 3), (True, 2)])
def test_streaming_ensemble_equals_whole_clip_ensemble(in_channels, t_len, spill, segment):
    net = small_net(in_channels, DiffFlow())
    x = clip(in_channels, t_len)
    sigma = 0.1 if in_channels == 3 else None
    ref = denoised(net, x, sigma, infer=InferConfig(streaming=False, time_ensemble=True))
    got = denoised(net, x, sigma, infer=InferConfig(spill=spill, segment=segment, time_ensemble=True))
    assert (got - ref).abs().max() < 1e-5
    if t_len > 1:
        plain = denoised(net, x, sigma, infer=InferConfig(streaming=False))
        assert (got - plain).abs().max() > 1e-3


def test_reestimating_model_ensemble_streams_like_the_whole_clip():
    net = small_net(3, DiffFlow(), warp="bilinear")
    x = clip(3, 6)
    ref = denoised(net, x, 0.1, infer=InferConfig(streaming=False, time_ensemble=True), reestimate=True)
    for spill in (True, False):
        got = denoised(net, x, 0.1, infer=InferConfig(spill=spill, time_ensemble=True), reestimate=True)
        assert (got - ref).abs().max() < 1e-5


def test_tiled_ensemble_with_whole_frame_windows_equals_untiled():
    """Windows that cover the frame see exactly what the untiled run sees; the cores are assembled from
    both runs' outputs."""
    net = small_net(3, DiffFlow())
    x = clip(3, 4, n=1)
    ref = denoised(net, x, 0.1, infer=InferConfig(time_ensemble=True))
    got = denoised(net, x, 0.1, infer=InferConfig(tile=8, tile_overlap=32, time_ensemble=True))
    assert (got - ref).abs().max() < 1e-5
