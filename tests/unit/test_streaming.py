"""Streaming inference equals whole-clip inference (fp32, small model; also for a model re-estimating its
flows), and its stores are exact."""

from __future__ import annotations

import itertools

import pytest
import torch

from stbn import STBN
from stbn.config import InferConfig
from stbn.errors import StbnError
from stbn.infer import denoise_clip, propagation_flows
from stbn.models.flow import FlowEstimator
from stbn.spill import DiskStore, MemoryStore
from stbn.streaming import stream_outputs

H, W = 14, 18


class DiffFlow(FlowEstimator):
    """A deterministic, pairwise, non-zero test estimator: flows from frame differences (pixels)."""

    def forward(self, frames: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        d = frames[:, 1:] - frames[:, :-1]  # N,T-1,3,H,W
        fwd = 6.0 * d[:, :, :2]
        bwd = -4.0 * d[:, :, 1:]
        return fwd, bwd


def small_net(in_channels: int, flow: FlowEstimator | None = None, **kw) -> STBN:
    torch.manual_seed(in_channels)
    net = STBN(in_channels, num_channels=8, num_resblocks=1, srfe_blocks=1, srfe_groups=1, flow=flow, **kw).eval()
    for p in net.parameters():  # random weights and biases, not just the default init
        p.data.add_(0.05 * torch.randn_like(p))
    return net


def clip(in_channels: int, t_len: int, n: int = 2) -> torch.Tensor:
    torch.manual_seed(100 + t_len)
    return torch.rand(n, t_len, in_channels, H, W)


def streamed(net: STBN, x: torch.Tensor, sigma, flows=None, **kw) -> torch.Tensor:
    outs = [out for _, out in stream_outputs(net, (x[:, t] for t in range(x.shape[1])), sigma, flows, **kw)]
    return torch.stack(outs, dim=1)


@pytest.mark.parametrize(("in_channels", "t_len"), [(3, 1), (3, 2), (3, 7), (4, 1), (4, 2), (4, 7)])
@pytest.mark.parametrize(("spill", "segment"), [(True, 0), (False, 0), (False, 3), (True, 2)])
def test_stream_equals_whole_clip_with_estimated_flows(in_channels, t_len, spill, segment):
    net = small_net(in_channels, DiffFlow())
    x = clip(in_channels, t_len)
    sigma = 0.1 if in_channels == 3 else None
    with torch.no_grad():
        ref = net(x, noise_map=sigma)
    got = streamed(net, x, sigma, spill=spill, segment=segment)  # flows estimated pair by pair
    assert got.shape == ref.shape
    assert (got - ref).abs().max() < 1e-5


@pytest.mark.parametrize(("t_len", "segment", "channels_last"), [(5, 0, False), (10, 4, True), (6, 6, False), (9, 1, True)])
def test_stream_equals_whole_clip_with_given_flows(t_len, segment, channels_last):
    net = small_net(3)
    x = clip(3, t_len)
    g = torch.Generator().manual_seed(t_len)
    flows = tuple(3.0 * torch.randn(2, t_len - 1, 2, H, W, generator=g) for _ in range(2))
    sigma = torch.tensor([0.05, 0.2]).view(2, 1, 1, 1, 1)
    with torch.no_grad():
        ref = net(x, noise_map=sigma, flows=flows)
    for spill in (True, False):
        got = streamed(net, x, sigma, flows, spill=spill, segment=segment, channels_last=channels_last)
        assert (got - ref).abs().max() < 1e-5


@pytest.mark.parametrize(
    ("spill", "segment", "given"), [(True, 0, False), (False, 0, False), (True, 2, True), (False, 4, True)]
)
def test_reestimating_model_streams_like_the_whole_clip(spill, segment, given):
    """The refinement variant: a first pass, flows re-estimated on its mean, the final pass. Bilinear
    warping keeps the comparison continuous in the flows (they come from two differently summed means)."""
    net = small_net(3, DiffFlow(), warp="bilinear", reestimate_flow=True)
    x = clip(3, 6)
    flows = net.estimate_flows(x) if given else None
    with torch.no_grad():
        refined = propagation_flows(net, x, 0.1, flows, reestimate=True)
        ref = net(x, noise_map=0.1, flows=refined)
        plain = net(x, noise_map=0.1, flows=flows)
    assert (ref - plain).abs().max() > 1e-3  # the re-estimated flows matter
    got = streamed(net, x, 0.1, flows, spill=spill, segment=segment)
    assert (got - ref).abs().max() < 1e-5
    infer = InferConfig(spill=spill, segment=segment)
    assert (denoise_clip(net, x, 0.1, flows, infer=infer) - denoise_clip(net, x, 0.1, flows)).abs().max() < 1e-5


def test_tiles_refuse_flow_reestimation():
    net = small_net(3, DiffFlow(), reestimate_flow=True)
    with pytest.raises(StbnError, match="infer.tile"):
        denoise_clip(net, clip(3, 3), 0.1, infer=InferConfig(tile=8))


def test_noisy_frames_come_back_in_order_and_temp_files_are_closed(tmp_path):
    net = small_net(3)
    x = clip(3, 4, n=1)
    frames = [noisy for noisy, _ in stream_outputs(net, (x[:, t] for t in range(4)), 0.1, spill_dir=tmp_path)]
    assert all(torch.equal(f, x[:, t]) for t, f in enumerate(frames))
    gen = stream_outputs(net, (x[:, t] for t in range(4)), 0.1, spill_dir=tmp_path)
    next(gen)
    gen.close()  # a consumer that stops early releases the spill files (anonymous: nothing left behind)
    assert list(tmp_path.iterdir()) == []


def test_crop_equals_whole_clip_on_the_cropped_clip():
    net = small_net(3, DiffFlow())
    x = clip(3, 5, n=1)
    fwd, bwd = net.estimate_flows(x)
    crop = (slice(2, 12), slice(4, 16))
    with torch.no_grad():
        ref = net(x[..., crop[0], crop[1]], 0.1, flows=(fwd[..., crop[0], crop[1]], bwd[..., crop[0], crop[1]]))
    got = streamed(net, x, 0.1, crop=crop)
    assert (got - ref).abs().max() < 1e-5


def test_bf16_runs_close_to_fp32():
    net = small_net(3)
    x = clip(3, 3, n=1)
    ref = streamed(net, x, 0.1)
    got = streamed(net, x, 0.1, precision="bf16")
    assert got.dtype == torch.float32
    assert (got - ref).abs().max() < 0.1 * ref.abs().max()


def test_errors():
    net = small_net(3)
    with pytest.raises(ValueError, match="no frames"):
        list(stream_outputs(net, iter([]), 0.1))
    with pytest.raises(ValueError, match="expects frames"):
        list(stream_outputs(net, [torch.rand(1, 4, H, W)], 0.1))
    with pytest.raises(ValueError, match="frame 1"):
        list(stream_outputs(net, [torch.rand(1, 3, H, W), torch.rand(1, 3, H, W + 2)], 0.1))
    bad = (torch.zeros(1, 2, 2, H, W), torch.zeros(1, 2, 2, H, W))
    with pytest.raises(ValueError, match="flows must be"):
        list(stream_outputs(net, [torch.rand(1, 3, H, W)] * 2, 0.1, bad))


@pytest.mark.parametrize(("dtype", "channels_last"), list(itertools.product((torch.float32, torch.bfloat16), (False, True))))
def test_disk_store_round_trip(dtype, channels_last):
    store = DiskStore(torch.device("cpu"))
    fmt = torch.channels_last if channels_last else torch.contiguous_format
    items = [torch.randn(2, 5, 3, 4).to(dtype).contiguous(memory_format=fmt) for _ in range(3)]
    for i in (2, 0, 1):
        store.put(i, items[i])
    store.put(0, items[0])  # overwrite in place
    assert all(torch.equal(store.get(i), items[i]) for i in range(3))
    assert store.get(1).is_contiguous(memory_format=fmt)
    view = torch.randn(2, 3, 5, 3, 4).to(dtype)[:, 1]  # a non-contiguous view of a bigger tensor
    store.put(3, view)
    assert torch.equal(store.get(3), view)
    with pytest.raises(KeyError):
        store.get(7)
    with pytest.raises(ValueError, match="holds"):
        store.put(4, torch.zeros(1))
    store.close()
    mem = MemoryStore()
    mem.put(0, items[0])
    assert mem.get(0) is items[0]
