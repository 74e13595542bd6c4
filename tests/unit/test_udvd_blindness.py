"""UDVD's blindness (UDVD_SPEC.md section 6) by exact gradients: the output at (t, y, x) never sees pixel
(y, x) of any frame, sees its neighbours in every frame of its window, and no frame outside it; at square,
landscape and portrait sizes. Reflection padding to the square (the published code) would leak."""

from __future__ import annotations

import pytest
import torch

import stbn.models.udvd as udvd_module
from stbn.analysis.blindness import check_pixel_blindness
from stbn.models import UDVD

FRAMES = 5


def queries(h: int, w: int, times=(0, 1, 2, 4)) -> list[tuple[int, int, int]]:
    """Edge frames (repeated in their windows) and the middle; corners, the rows next to the top and
    bottom borders, the columns next to the side borders, the middle."""
    pos = [(0, 0), (1, w // 2), (h - 2, w // 3), (h // 3, 1), (h // 2, w - 2), (h - 1, w - 1)]
    return [(t, y, x) for t in times for y, x in pos]


def window(t: int, frames: int = FRAMES) -> tuple[int, ...]:
    return tuple(sorted({min(max(t + k, 0), frames - 1) for k in range(-2, 3)}))


def small(**kw) -> UDVD:
    """A narrow UDVD with the default padding unless ``kw`` says otherwise (blindness is width-free)."""
    torch.manual_seed(3)
    return UDVD(width=4, triplet_features=4, **kw)


@pytest.mark.parametrize("size", [(40, 40), (36, 52), (52, 36)], ids=["square", "landscape", "portrait"])
def test_blind_to_the_pixel_in_every_frame(size):
    h, w = size
    results = check_pixel_blindness(small(), FRAMES, h, w, queries(h, w))
    assert [r for r in results if r.pixel_leaks] == []
    assert all(r.frames_seen == r.neighbours_seen == window(r.t) for r in results)
    assert all(r.seen == h * w - 1 for r in results)  # the whole frame but the pixel


def test_every_output_channel_is_blind():
    h, w = 20, 30
    results = check_pixel_blindness(small(), 3, h, w, [(1, 1, 7), (1, 18, 28)], per_channel=True)
    assert len(results) == 2 * 9
    assert [r for r in results if r.pixel_leaks] == []
    assert all(r.neighbours_seen == (0, 1, 2) for r in results)


def test_published_width_is_blind():
    results = check_pixel_blindness(UDVD(), 3, 12, 20, [(1, 1, 10), (1, 10, 19)])
    assert [r for r in results if r.pixel_leaks] == []
    assert all(r.neighbours_seen == (0, 1, 2) and r.seen == 12 * 20 - 1 for r in results)


@pytest.mark.parametrize("size", [(36, 52), (52, 36)], ids=["landscape", "portrait"])
def test_reflection_padding_would_leak(size):
    """The published square padding mirrors the frame into the padding, where a causal branch sees the
    pixel's own image: every frame's pixel leaks near the padded borders; the middle stays blind and so
    does a square frame (nothing to pad)."""
    h, w = size
    border = [(1, 1, w // 2), (1, h - 2, w // 3)] if w > h else [(1, h // 2, 1), (1, h // 3, w - 2)]
    middle = [(1, h // 2, w // 2)]
    results = check_pixel_blindness(small(square_pad="reflect"), 3, h, w, border + middle)
    assert [r.pixel_leaks for r in results] == [(0, 1, 2), (0, 1, 2), ()]
    square = check_pixel_blindness(small(square_pad="reflect"), 3, 40, 40, [(1, 1, 20), (1, 38, 13)])
    assert [r for r in square if r.pixel_leaks] == []


def test_negative_control_without_the_row_shifts_the_pixel_is_seen(monkeypatch):
    """The census can fail: without the one-row shifts every branch sees its own row, the pixel included."""
    monkeypatch.setattr(udvd_module, "shift_down", lambda x: x)
    results = check_pixel_blindness(small(), 3, 20, 20, [(1, 10, 10), (0, 3, 17)])
    assert [r.pixel_leaks for r in results] == [(0, 1, 2), (0, 1, 2)]
