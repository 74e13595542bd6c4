"""Warping and patch (un)shuffle: hand-computed values, inverses, gradients, errors."""

from __future__ import annotations

import pytest
import torch

from stbn.ops import flow_warp, patch_shuffle, patch_unshuffle


def test_zero_flow_is_identity():
    x = torch.randn(2, 3, 7, 9)
    for mode in ("nearest", "bilinear"):
        assert torch.allclose(flow_warp(x, torch.zeros(2, 2, 7, 9), mode), x, atol=1e-6)


def test_integer_shift_is_exact_and_out_of_frame_is_zero():
    x = torch.randn(1, 2, 6, 8)
    flow = torch.zeros(1, 2, 6, 8)
    flow[:, 0] = 2.0  # out(q) = x(q + (2, 0)) along width
    flow[:, 1] = -1.0  # and one row up
    for mode in ("nearest", "bilinear"):
        out = flow_warp(x, flow, mode)
        assert torch.allclose(out[:, :, 1:, :-2], x[:, :, :-1, 2:], atol=1e-6)
        outside = torch.cat((out[:, :, 0].flatten(), out[:, :, :, -2:].flatten()))
        assert outside.abs().max() < 1e-5  # bilinear: round-off of the grid normalisation


def test_nearest_rounds_half_to_even():
    x = torch.arange(8.0).view(1, 1, 1, 8)
    flow = torch.zeros(1, 2, 1, 8)
    flow[:, 0] = 0.5  # q + 0.5: 0.5 -> 0, 1.5 -> 2, 2.5 -> 2, ...
    out = flow_warp(x, flow, "nearest")
    assert out.flatten().tolist()[:6] == [0.0, 2.0, 2.0, 4.0, 4.0, 6.0]


def test_bilinear_gradcheck_float64():
    x = torch.randn(1, 2, 5, 6, dtype=torch.float64, requires_grad=True)
    flow = (torch.rand(1, 2, 5, 6, dtype=torch.float64) - 0.5) * 2.3
    assert torch.autograd.gradcheck(lambda a: flow_warp(a, flow, "bilinear"), (x,))


def test_warp_keeps_dtype_and_rejects_bad_shapes():
    x = torch.randn(1, 3, 4, 4, dtype=torch.float64)
    assert flow_warp(x, torch.zeros(1, 2, 4, 4), "nearest").dtype == torch.float64
    with pytest.raises(ValueError):
        flow_warp(x, torch.zeros(1, 3, 4, 4))
    with pytest.raises(ValueError):
        flow_warp(x, torch.zeros(1, 2, 4, 5))
    with pytest.raises(ValueError):
        flow_warp(x, torch.zeros(1, 2, 4, 4), "bicubic")


def test_patch_unshuffle_matches_the_index_formula():
    c, h, w = 2, 8, 12
    x = torch.randn(1, c, h, w)
    u = patch_unshuffle(x)
    assert u.shape == (1, 4 * c, h // 2, w // 2)
    for ch in range(c):
        for hd in range(h // 4):
            for wd in range(w // 4):
                for hn in range(2):
                    for wn in range(2):
                        for hh in range(2):
                            for ww in range(2):
                                got = u[0, ch * 4 + 2 * hn + wn, 2 * hd + hh, 2 * wd + ww]
                                assert got == x[0, ch, 4 * hd + 2 * hn + hh, 4 * wd + 2 * wn + ww]


def test_patch_shuffle_is_the_exact_inverse():
    x = torch.randn(3, 5, 12, 16)
    assert torch.equal(patch_shuffle(patch_unshuffle(x)), x)
    with pytest.raises(ValueError):
        patch_unshuffle(torch.randn(1, 1, 6, 8))
