"""Spatial tiling with overlap, for frames whose states do not fit in memory at once.

The frame is cut into a grid of *cores*; each core is denoised inside a *window* that extends it by
``overlap`` pixels on every side (clipped at the frame border), and only the core is kept. Every tile
is one run over a crop of the view (:mod:`stbn.engine.runs`) with the view's flows, cropped; the outputs
are assembled frame by frame. Window origins are multiples of 4, so SRFE's 4x4 patch-unshuffle grid lines
up with the untiled one, and a tile differs from the untiled result only through what lies beyond its
window: the receptive field of one frame is about +-100 px at paper width and grows with every recurrent
step, but its weight decays fast (``docs/performance.md``).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass

import torch

from stbn.engine.clip import Crop, View
from stbn.engine.stores import Storage

ALIGN = 4


@dataclass(frozen=True)
class Tile:
    """``window``: the rows/cols a tile runs on; ``core``: the rows/cols of the frame it writes."""

    window: Crop
    core: Crop

    @property
    def inner(self) -> Crop:
        """The core as slices into the window's output."""
        (wy, wx), (cy, cx) = self.window, self.core
        return slice(cy.start - wy.start, cy.stop - wy.start), slice(cx.start - wx.start, cx.stop - wx.start)


def _round_up(x: int, m: int) -> int:
    return -(-x // m) * m


def _spans(size: int, core: int, overlap: int) -> list[tuple[slice, slice]]:
    """Along one axis: ``(window, core)`` slices; cores of ``core`` px cover ``[0, size)``."""
    out = []
    for start in range(0, size, core):
        stop = min(start + core, size)
        out.append((slice(max(0, start - overlap), min(size, stop + overlap)), slice(start, stop)))
    return out


def tile_grid(height: int, width: int, tile: int, overlap: int) -> list[Tile]:
    """Tiles whose cores (``tile`` px, rounded up to a multiple of 4) cover an ``height x width`` frame,
    each with ``overlap`` px (rounded up to a multiple of 4) of context on every side; row-major."""
    if tile < 1 or overlap < 0:
        raise ValueError(f"tile must be >= 1 and overlap >= 0, got tile={tile}, overlap={overlap}")
    core, margin = _round_up(tile, ALIGN), _round_up(overlap, ALIGN)
    return [
        Tile((wy, wx), (cy, cx))
        for wy, cy in _spans(height, core, margin)
        for wx, cx in _spans(width, core, margin)
    ]


def tiled(
    run: Callable[[View], Iterator[torch.Tensor]], view: View, tile: int, overlap: int, storage: Storage
) -> Iterator[torch.Tensor]:
    """The outputs of ``run`` (per-frame ``(N, out_channels, h, w)`` of a view) over ``view``, tile by tile:
    each tile's cores wait in a store of ``storage``; frames are assembled and yielded once every tile has
    run. ``tile`` is the core side in pixels, ``overlap`` the context on each side."""
    tiles = tile_grid(*view.size, tile, overlap)
    stores = []
    try:
        for tl in tiles:
            store = storage.new()
            stores.append(store)
            for t, out in enumerate(run(view.cropped(tl.window))):
                store.put(t, out[..., tl.inner[0], tl.inner[1]])
        for t in range(view.length):
            out = None
            for tl, store in zip(tiles, stores):
                core = store.get(t)
                if out is None:
                    out = core.new_empty(*core.shape[:-2], *view.size)
                out[..., tl.core[0], tl.core[1]] = core
            yield out
    finally:
        for store in stores:
            store.close()
