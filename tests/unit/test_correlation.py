"""The pure-PyTorch cost volume against naive references, its channel layout and its gradients."""

import pytest
import torch

from stbn.ops.correlation import correlation


def per_pixel_reference(f1: torch.Tensor, f2: torch.Tensor, d: int) -> torch.Tensor:
    """Literal formula, one pixel and displacement at a time (tiny inputs only)."""
    n, c, h, w = f1.shape
    k = 2 * d + 1
    out = torch.zeros(n, k * k, h, w, dtype=f1.dtype)
    for b in range(n):
        for y in range(h):
            for x in range(w):
                for dy in range(-d, d + 1):
                    for dx in range(-d, d + 1):
                        yy, xx = y + dy, x + dx
                        if 0 <= yy < h and 0 <= xx < w:
                            out[b, (dy + d) * k + dx + d, y, x] = (f1[b, :, y, x] * f2[b, :, yy, xx]).sum() / c
    return out


def per_displacement_reference(f1: torch.Tensor, f2: torch.Tensor, d: int) -> torch.Tensor:
    """One whole-image product per displacement; the shifted f2 built by roll + an inside mask."""
    _, c, h, w = f1.shape
    ys = torch.arange(h).view(h, 1)
    xs = torch.arange(w).view(1, w)
    planes = []
    for dy in range(-d, d + 1):
        for dx in range(-d, d + 1):
            shifted = torch.roll(f2, shifts=(-dy, -dx), dims=(2, 3))
            inside = ((ys + dy >= 0) & (ys + dy < h) & (xs + dx >= 0) & (xs + dx < w)).to(f1.dtype)
            planes.append((f1 * shifted).sum(1) * inside / c)
    return torch.stack(planes, 1)


def test_matches_per_pixel_reference_on_tiny_input():
    gen = torch.Generator().manual_seed(0)
    f1 = torch.randn(2, 3, 5, 6, generator=gen, dtype=torch.float64)
    f2 = torch.randn(2, 3, 5, 6, generator=gen, dtype=torch.float64)
    torch.testing.assert_close(correlation(f1, f2), per_pixel_reference(f1, f2, 4), rtol=0, atol=1e-12)


def test_matches_per_displacement_reference_to_1e6():
    gen = torch.Generator().manual_seed(1)
    f1 = torch.randn(2, 32, 24, 40, generator=gen)
    f2 = torch.randn(2, 32, 24, 40, generator=gen)
    out = correlation(f1, f2)
    assert out.shape == (2, 81, 24, 40)
    assert (out - per_displacement_reference(f1, f2, 4)).abs().max() < 1e-6


def test_channel_index_is_dy_major():
    # a single feature "spike" in f2 at an offset (dy, dx) = (-3, 2) from the f1 spike lights channel (dy+4)*9+(dx+4)
    f1 = torch.zeros(1, 2, 12, 12)
    f2 = torch.zeros(1, 2, 12, 12)
    f1[0, :, 6, 5] = 1.0
    f2[0, :, 3, 7] = 1.0
    out = correlation(f1, f2)
    k = (-3 + 4) * 9 + (2 + 4)
    assert out[0, k, 6, 5] == 1.0
    assert out.abs().sum() == 1.0


def test_gradcheck_float64():
    gen = torch.Generator().manual_seed(2)
    f1 = torch.randn(1, 3, 4, 5, generator=gen, dtype=torch.float64, requires_grad=True)
    f2 = torch.randn(1, 3, 4, 5, generator=gen, dtype=torch.float64, requires_grad=True)
    assert torch.autograd.gradcheck(lambda a, b: correlation(a, b, max_displacement=1), (f1, f2))
    # the full 81-channel Jacobian is large; fast mode checks it along random directions
    assert torch.autograd.gradcheck(correlation, (f1, f2), fast_mode=True)


def test_other_displacement_and_empty_batch():
    f = torch.randn(0, 4, 8, 8)
    assert correlation(f, f, max_displacement=1).shape == (0, 9, 8, 8)


@pytest.mark.parametrize("shapes", [((1, 2, 4, 4), (1, 2, 4, 5)), ((2, 4, 4), (2, 4, 4))])
def test_rejects_bad_shapes(shapes):
    with pytest.raises(ValueError, match="correlation"):
        correlation(torch.zeros(shapes[0]), torch.zeros(shapes[1]))
