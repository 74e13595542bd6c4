"""Lattice blindness of the whole recurrent model (both directions, BSA fusion, SRFE, heads), also with
flows re-estimated on the pseudo-clean mean of a first pass."""

from __future__ import annotations

import pytest
import torch
import torch.nn as nn
import torch.nn.functional as F

from stbn import STBN
from stbn.analysis.blindness import check_blindness, lattice_shares
from stbn.engine.flows import reestimated_flows
from stbn.models.blindspot import CentralMaskedConv2d
from stbn.models.flow import DISFlow, FlowEstimator
from stbn.ops import shuffle

FRAMES = 5


def queries(h: int, w: int) -> list[tuple[int, int, int]]:
    """Start, middle and end frames; positions covering every parity class mod 4 and the borders."""
    pos = [(0, 0), (h - 1, w - 1), (5, 6), (10, 3), (7, 13), (h - 4, w - 6)]
    return [(t, y, x) for t in (0, FRAMES // 2, FRAMES - 1) for y, x in pos]


def small_net(in_channels: int, warp: str, neighbour_frames: bool = False) -> STBN:
    torch.manual_seed(in_channels)
    net = STBN(in_channels, num_channels=16, num_resblocks=2, srfe_blocks=2, srfe_groups=1, warp=warp,
               neighbour_frames=neighbour_frames)
    for p in net.parameters():  # random weights and biases, not just the default init
        p.data.add_(0.05 * torch.randn_like(p))
    return net


@pytest.mark.parametrize(
    ("in_channels", "warp", "train_mode", "size"),
    [
        (3, "nearest", True, (24, 28)),
        (3, "nearest", False, (22, 26)),
        (3, "bilinear", True, (22, 26)),
        (3, "bilinear", False, (24, 28)),
        (4, "nearest", False, (24, 28)),
        (4, "nearest", True, (22, 26)),
        (4, "bilinear", False, (22, 26)),
        (4, "bilinear", True, (24, 28)),
    ],
)
def test_every_output_channel_is_lattice_blind(in_channels, warp, train_mode, size):
    net = small_net(in_channels, warp).train(train_mode)
    h, w = size
    results = check_blindness(net, FRAMES, h, w, queries(h, w), per_channel=True)
    assert len(results) == len(queries(h, w)) * net.out_channels
    assert [r for r in results if r.lattice_leaks] == []
    # everything off the lattice is seen: the receptive field covers these frames
    assert all(r.off_lattice_nonzero == r.off_lattice_total for r in results)


@pytest.mark.parametrize(("in_channels", "warp", "zero_flow"), [(3, "nearest", False), (3, "bilinear", True),
                                                               (4, "nearest", True), (4, "bilinear", False)])
def test_neighbour_frames_stay_lattice_blind(in_channels, warp, zero_flow):
    net = small_net(in_channels, warp, neighbour_frames=True).train()
    results = check_blindness(net, FRAMES, 22, 26, queries(22, 26), per_channel=True, zero_flow=zero_flow)
    assert [r for r in results if r.lattice_leaks] == []
    assert all(r.off_lattice_nonzero == r.off_lattice_total for r in results)


def test_neighbour_frames_open_the_lattice_of_other_frames():
    # the published network reaches other frames' pixels on q's lattice only through weak paths (docs/fitting.md)
    published, variant = (lattice_shares(small_net(3, "nearest", nf), frames=FRAMES, size=22) for nf in (False, True))
    assert published[FRAMES // 2][2] == variant[FRAMES // 2][2] == 0.0  # frame t stays blind on q's lattice
    others = [i for i in range(FRAMES) if i != FRAMES // 2]
    assert min(variant[i][2] for i in others) > 2 * max(published[i][2] for i in others)


@pytest.mark.parametrize("in_channels", [3, 4])
def test_other_frames_see_the_colocated_pixel(in_channels):
    net = small_net(in_channels, "nearest")
    results = check_blindness(net, FRAMES, 20, 20, queries(20, 20), per_channel=False, zero_flow=True)
    assert all(r.neighbour_frames_see_q for r in results)
    assert [r for r in results if r.lattice_leaks] == []


@pytest.mark.parametrize("in_channels", [3, 4])
def test_paper_width_64x64(in_channels):
    """Paper width and depth: blind on the lattice, sensitive to all 3072 other pixels of a 64x64 frame,
    at the first, middle and last frame of a 3-frame clip (two positions each: about 12 CPU s on one
    thread, where five positions at each frame took 47 s)."""
    torch.manual_seed(1)
    net = STBN(in_channels).eval()
    positions = {0: [(0, 0), (31, 32)], 1: [(33, 30), (62, 63)], 2: [(17, 46), (63, 1)]}
    qs = [(t, y, x) for t, pos in positions.items() for y, x in pos]
    results = check_blindness(net, 3, 64, 64, qs, per_channel=False)
    assert [r for r in results if r.lattice_leaks] == []
    assert all(r.off_lattice_nonzero == r.off_lattice_total == 3072 for r in results)


class DiffFlow(FlowEstimator):
    """A differentiable test estimator: flows from frame differences (pixels)."""

    def forward(self, frames: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        d = frames[:, 1:] - frames[:, :-1]
        return 6.0 * d[:, :, :2], -4.0 * d[:, :, 1:]


class Reestimating(nn.Module):
    """What :func:`check_blindness` sees of a re-estimating model: the flows it passes are the first
    pass's, ``reestimate(net, noisy, noise_map, flows)`` gives the final pass's."""

    def __init__(self, net: STBN, reestimate) -> None:
        super().__init__()
        self.net, self.reestimate = net, reestimate
        self.in_channels, self.out_channels = net.in_channels, net.out_channels

    def forward(self, noisy, noise_map=None, flows=None):
        return self.net(noisy, noise_map=noise_map, flows=self.reestimate(self.net, noisy, noise_map, flows))


def reestimated(net: STBN, noisy, noise_map, flows):
    """The flows of the final pass: re-estimated on a first pass's mean (:mod:`stbn.engine.flows`)."""
    with torch.no_grad():
        first = net(noisy, noise_map=noise_map, flows=flows)
    return reestimated_flows(net, first)


def with_gradient(net: STBN, noisy, noise_map, flows):
    """The re-estimation done wrong: the mean and the flows keep their graph."""
    return net.flow(net.flow_frames(net(noisy, noise_map=noise_map, flows=flows)[:, :, : net.in_channels]))


@pytest.mark.parametrize(
    ("flow", "warp"), [(DISFlow(), "nearest"), (DiffFlow(), "bilinear")], ids=["dis", "differentiable"]
)
def test_reestimated_flows_keep_the_lattice_blind(flow, warp):
    """Flows re-estimated on the first pass's mean carry no gradient, so the final pass is exactly blind;
    with a differentiable estimator and bilinear warping a re-estimation with gradient would leak."""
    net = small_net(3, warp)
    net.flow = flow
    h, w = 24, 28
    model = Reestimating(net, reestimated)
    results = check_blindness(model, FRAMES, h, w, queries(h, w), per_channel=False)
    assert [r for r in results if r.lattice_leaks] == []
    assert all(r.off_lattice_nonzero == r.off_lattice_total for r in results)
    if warp == "bilinear":
        leaky = check_blindness(Reestimating(net, with_gradient), FRAMES, h, w, queries(h, w), per_channel=False)
        assert sum(r.lattice_leaks for r in leaky) > 0


def test_negative_control_pixel_unshuffle_leaks(monkeypatch):
    """The check can fail: torch's pixel (un)shuffle instead of the patch version breaks blindness."""
    monkeypatch.setattr(shuffle, "patch_unshuffle", lambda x: F.pixel_unshuffle(x, 2))
    monkeypatch.setattr(shuffle, "patch_shuffle", lambda x: F.pixel_shuffle(x, 2))
    results = check_blindness(small_net(3, "nearest"), FRAMES, 24, 28, queries(24, 28), per_channel=False)
    assert sum(r.lattice_leaks for r in results) > 0


def test_negative_control_unmasked_centre_leaks():
    net = small_net(3, "nearest")
    for m in net.modules():
        if isinstance(m, CentralMaskedConv2d):
            m.mask.fill_(1.0)
    results = check_blindness(net, FRAMES, 24, 28, queries(24, 28), per_channel=False)
    assert sum(r.lattice_leaks for r in results) > 0
