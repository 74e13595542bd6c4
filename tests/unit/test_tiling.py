"""Spatial tiling: the grid covers the frame exactly, windows keep SRFE's 4x4 phase, seams vanish with overlap."""

from __future__ import annotations

import pytest
import torch

from stbn import STBN
from stbn.config import InferConfig
from stbn.engine.tiles import tile_grid

from test_streaming import denoised


def small_net() -> STBN:
    torch.manual_seed(0)
    return STBN(3, num_channels=8, num_resblocks=1, srfe_blocks=1, srfe_groups=1).eval()


@pytest.mark.parametrize(
    ("h", "w", "tile", "overlap"), [(70, 90, 32, 8), (13, 17, 5, 3), (64, 64, 100, 16), (8, 40, 8, 0)]
)
def test_grid_partitions_the_frame_and_aligns_windows(h, w, tile, overlap):
    tiles = tile_grid(h, w, tile, overlap)
    cover = torch.zeros(h, w, dtype=torch.int64)
    for tl in tiles:
        cover[tl.core] += 1
        (wy, wx), (cy, cx) = tl.window, tl.core
        assert wy.start % 4 == 0 and wx.start % 4 == 0
        assert wy.start <= cy.start and cy.stop <= wy.stop <= h and wx.start <= cx.start and cx.stop <= wx.stop <= w
        assert cy.start - wy.start in (0, -(-overlap // 4) * 4) or wy.start == 0
        inner = tl.inner
        assert inner[0].stop - inner[0].start == cy.stop - cy.start
    assert torch.equal(cover, torch.ones(h, w, dtype=torch.int64))
    with pytest.raises(ValueError):
        tile_grid(h, w, 0, overlap)


def run(net, x, **kw):
    """The engine's estimates of ``x`` with the ``infer`` options ``kw``."""
    return denoised(net, x, 0.1, InferConfig(**kw))


def test_tiles_whose_windows_cover_the_frame_are_exact():
    net = small_net()
    x = torch.rand(1, 3, 3, 30, 42)
    ref = run(net, x)
    assert (run(net, x, tile=16, tile_overlap=48) - ref).abs().max() < 1e-6


def test_seams_shrink_with_overlap():
    net = small_net()
    torch.manual_seed(1)
    x = torch.rand(1, 3, 3, 52, 60)
    ref = run(net, x)
    errs = [(run(net, x, tile=24, tile_overlap=ov) - ref).abs().max().item() for ov in (0, 8, 32)]
    assert errs[0] > 1e-2 and errs[0] > errs[1] > errs[2] and errs[2] < 1e-6
    for infer in ({"spill": False}, {"streaming": False}):
        assert (run(net, x, tile=24, tile_overlap=32, **infer) - ref).abs().max() < 1e-6
