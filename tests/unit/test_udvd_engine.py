"""UDVD through the inference engine (:func:`stbn.engine.denoise`): the sliding window streams exactly like the
whole clip, and the time and shift ensembles are the same implementation as STBN's (the config refuses
tiles and segments for it: ``test_udvd.test_method_config_errors``)."""

from __future__ import annotations

import pytest
import torch
from test_shift_ensemble import windows_mean

from stbn.config import InferConfig, SpeedConfig
from stbn.models.udvd import UDVD

from test_streaming import clip, denoised


def small_udvd(in_channels: int) -> UDVD:
    torch.manual_seed(in_channels)
    net = UDVD(in_channels, width=4, triplet_features=4).eval()
    for p in net.parameters():  # larger random weights than the default init, so outputs differ visibly
        p.data.mul_(3.0)
    return net


def sigma_for(in_channels: int) -> float | None:
    return 0.1 if in_channels == 3 else None


@pytest.mark.parametrize(("in_channels", "t_len"), [(3, 1), (3, 2), (3, 7), (4, 6)])
@pytest.mark.parametrize("spill", [True, False])
def test_streaming_equals_the_whole_clip_bit_for_bit(in_channels, t_len, spill):
    net, x = small_udvd(in_channels), clip(in_channels, t_len)
    ref = denoised(net, x, sigma_for(in_channels), infer=InferConfig(streaming=False))
    got = denoised(net, x, sigma_for(in_channels), infer=InferConfig(spill=spill))
    assert torch.equal(got, ref)
    assert ref.shape == x.shape


def test_the_time_ensemble_is_the_mean_of_the_clip_and_its_reversal():
    net, x = small_udvd(3), clip(3, 5)
    plain = denoised(net, x, 0.1, infer=InferConfig())
    backwards = denoised(net, x.flip(1), 0.1, infer=InferConfig()).flip(1)
    got = denoised(net, x, 0.1, infer=InferConfig(time_ensemble=True))
    assert (plain - backwards).abs().max() > 1e-3  # the window is not symmetric in time
    interior = (plain > 0) & (plain < 1) & (backwards > 0) & (backwards < 1)
    assert interior.float().mean() > 0.1
    assert (got - (0.5 * (plain + backwards)).clamp(0, 1))[interior].abs().max() < 1e-5


@pytest.mark.parametrize("streaming", [False, True])
def test_the_shift_ensemble_averages_the_windows(streaming):
    net, x = small_udvd(3), clip(3, 3)
    infer = InferConfig(streaming=streaming)
    expected, inside = windows_mean(net, x, 0.1, 2, infer)
    got = denoised(net, x, 0.1, infer=infer.model_copy(update={"shift_ensemble": 2}))
    assert inside.float().mean() > 0.1
    assert (got - expected)[inside].abs().max() < 1e-5
    assert (got - denoised(net, x, 0.1, infer=infer))[..., 2:, 2:].abs().max() > 1e-3


def test_bf16_and_channels_last_stream_close_to_fp32():
    net, x = small_udvd(3), clip(3, 4)
    ref = denoised(net, x, 0.1)
    got = denoised(small_udvd(3), x, 0.1, speed=SpeedConfig(precision="bf16", channels_last=True))
    assert got.dtype == torch.float32
    assert (got - ref).abs().mean() < 0.01

