"""The engine's runs: streaming equals the whole clip (fp32, small model; also with re-estimated flows),
crops and given flows, and its stores are exact."""

from __future__ import annotations

import itertools
import os
from pathlib import Path

import pytest
import torch

from stbn import STBN
from stbn.config import InferConfig, SpeedConfig
from stbn.engine import denoise
from stbn.engine.clip import View, full, ingest
from stbn.engine.flows import reestimated_flows
from stbn.engine.runs import streamed
from stbn.engine.speed import REFERENCE
from stbn.engine.stores import DiskStore, MemoryStore, Storage
from stbn.models.flow import FlowEstimator
from stbn.models.losses import posterior_mean

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


def denoised(net: STBN, x: torch.Tensor, sigma, infer=None, speed=None, reestimate: bool = False) -> torch.Tensor:
    """:func:`stbn.engine.denoise` of a clip ``(N, T, C, H, W)``, stacked the same way."""
    return torch.stack(list(denoise(net, x.unbind(1), sigma, infer, speed, reestimate_flows=reestimate)), dim=1)


def streamed_outputs(net: STBN, x: torch.Tensor, sigma, spill=True, segment=0, flows=None, crop=None,
                     speed=None) -> torch.Tensor:
    """Network outputs ``(N, T, out, h, w)`` of one streamed run over ``x`` (its flows estimated pair by pair,
    or the given ``(fwd, bwd)``), cropped to ``crop``."""
    storage = Storage(torch.device("cpu"), spill)
    try:
        view = ingest(net, x.unbind(1), storage, flows=flows is None)
        if flows is not None:
            stores = MemoryStore(), MemoryStore()
            for store, f in zip(stores, flows):
                for t in range(x.shape[1] - 1):
                    store.put(t, f[:, t])
            view = View(view.frames, view.length, view.frame_size, view.crop, *stores, full((H, W)))
        if crop is not None:
            view = view.cropped(crop)
        return torch.stack(list(streamed(net, view, sigma, speed or REFERENCE, storage, segment)), dim=1)
    finally:
        storage.close()


@pytest.mark.parametrize(("in_channels", "t_len"), [(3, 1), (3, 2), (3, 7), (4, 1), (4, 2), (4, 7)])
@pytest.mark.parametrize(("spill", "segment"), [(True, 0), (False, 0), (False, 3), (True, 2)])
def test_stream_equals_whole_clip_with_estimated_flows(in_channels, t_len, spill, segment):
    net = small_net(in_channels, DiffFlow())
    x = clip(in_channels, t_len)
    sigma = 0.1 if in_channels == 3 else None
    with torch.no_grad():
        ref = net(x, noise_map=sigma)
    got = streamed_outputs(net, x, sigma, spill=spill, segment=segment)  # flows estimated pair by pair
    assert got.shape == ref.shape
    assert (got - ref).abs().max() < 1e-5


@pytest.mark.parametrize(("t_len", "segment"), [(6, 0), (7, 2), (5, 3)])
def test_stream_equals_whole_clip_with_neighbour_frames(t_len, segment):
    # each step also warps the noisy frame its state came from: a segment must still hold that frame
    net = small_net(3, DiffFlow(), neighbour_frames=True)
    x = clip(3, t_len)
    with torch.no_grad():
        ref = net(x, noise_map=0.1)
    for spill in (True, False):
        got = streamed_outputs(net, x, 0.1, spill=spill, segment=segment)
        assert (got - ref).abs().max() < 1e-5


@pytest.mark.parametrize(
    ("t_len", "segment", "channels_last"), [(5, 0, False), (10, 4, True), (6, 6, False), (9, 1, True)]
)
def test_stream_equals_whole_clip_with_given_flows(t_len, segment, channels_last):
    net = small_net(3)
    x = clip(3, t_len)
    g = torch.Generator().manual_seed(t_len)
    flows = tuple(3.0 * torch.randn(2, t_len - 1, 2, H, W, generator=g) for _ in range(2))
    sigma = torch.tensor([0.05, 0.2]).view(2, 1, 1, 1, 1)
    with torch.no_grad():
        ref = net(x, noise_map=sigma, flows=flows)
    speed = SpeedConfig(precision="fp32", channels_last=channels_last)
    for spill in (True, False):
        got = streamed_outputs(net, x, sigma, spill=spill, segment=segment, flows=flows, speed=speed)
        assert (got - ref).abs().max() < 1e-5


@pytest.mark.parametrize(("spill", "segment"), [(True, 0), (False, 0), (True, 2), (False, 4)])
def test_reestimated_flows_stream_like_the_whole_clip(spill, segment):
    """The refinement variant: a first pass, flows re-estimated on its mean, the final pass. Bilinear
    warping keeps the comparison continuous in the flows (they come from two differently summed means)."""
    net = small_net(3, DiffFlow(), warp="bilinear")
    x = clip(3, 6)
    with torch.no_grad():
        refined = reestimated_flows(net, net(x, noise_map=0.1))
        ref = posterior_mean(net(x, noise_map=0.1, flows=refined), x, 0.1).clamp(0, 1)
        plain = posterior_mean(net(x, noise_map=0.1), x, 0.1).clamp(0, 1)
    assert (ref - plain).abs().max() > 1e-3  # the re-estimated flows matter
    got = denoised(net, x, 0.1, InferConfig(spill=spill, segment=segment), reestimate=True)
    assert (got - ref).abs().max() < 1e-5
    whole = denoised(net, x, 0.1, InferConfig(streaming=False), reestimate=True)
    assert (whole - ref).abs().max() < 1e-5


def test_tiles_with_reestimated_flows_run_and_windows_covering_the_frame_are_exact():
    net = small_net(3, DiffFlow(), warp="bilinear")
    x = clip(3, 4, n=1)
    ref = denoised(net, x, 0.1, reestimate=True)
    got = denoised(net, x, 0.1, InferConfig(tile=8, tile_overlap=32), reestimate=True)
    assert (got - ref).abs().max() < 1e-5


def _open_files(folder) -> int:
    """Files open in this process inside ``folder`` (anonymous temporary files included)."""
    fds = Path("/proc/self/fd")
    return sum(1 for fd in fds.iterdir() if os.path.realpath(fd).startswith(str(folder))) if fds.is_dir() else 0


def test_spill_files_are_closed_when_a_consumer_stops_early(tmp_path):
    net = small_net(3)
    x = clip(3, 4, n=1)
    infer = InferConfig(spill_dir=str(tmp_path), time_ensemble=True, shift_ensemble=2)
    gen = denoise(net, x.unbind(1), 0.1, infer)
    next(gen)
    assert _open_files(tmp_path) > 0 or not Path("/proc/self/fd").is_dir()
    gen.close()
    assert _open_files(tmp_path) == 0
    assert list(tmp_path.iterdir()) == []  # anonymous: nothing left behind


def test_the_model_is_back_in_its_mode():
    net = small_net(3).train()
    x = clip(3, 3, n=1)
    denoised(net, x, 0.1)
    assert net.training


def test_crop_equals_whole_clip_on_the_cropped_clip():
    net = small_net(3, DiffFlow())
    x = clip(3, 5, n=1)
    fwd, bwd = net.estimate_flows(x)
    crop = (slice(2, 12), slice(4, 16))
    with torch.no_grad():
        ref = net(x[..., crop[0], crop[1]], 0.1, flows=(fwd[..., crop[0], crop[1]], bwd[..., crop[0], crop[1]]))
    got = streamed_outputs(net, x, 0.1, crop=crop)
    assert (got - ref).abs().max() < 1e-5


def test_bf16_runs_close_to_fp32():
    net = small_net(3)
    x = clip(3, 3, n=1)
    ref = denoised(net, x, 0.1)
    got = denoised(net, x, 0.1, speed=SpeedConfig(precision="bf16"))
    assert got.dtype == torch.float32
    assert (got - ref).abs().max() < 0.1 * ref.abs().max()


def test_errors():
    net = small_net(3)
    with pytest.raises(ValueError, match="no frames"):
        list(denoise(net, iter([]), 0.1))
    with pytest.raises(ValueError, match="expects frames"):
        list(denoise(net, [torch.rand(1, 4, H, W)], 0.1))
    with pytest.raises(ValueError, match="frame 1"):
        list(denoise(net, [torch.rand(1, 3, H, W), torch.rand(1, 3, H, W + 2)], 0.1))
    with pytest.raises(ValueError, match="noise level"):
        list(denoise(net, [torch.rand(1, 3, H, W)]))


@pytest.mark.parametrize(
    ("dtype", "channels_last"), list(itertools.product((torch.float32, torch.bfloat16), (False, True)))
)
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
