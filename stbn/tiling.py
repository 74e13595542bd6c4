"""Spatial tiling with overlap, for frames whose states do not fit in memory at once.

The frame is cut into a grid of *cores*; each core is denoised inside a *window* that extends it by
``overlap`` pixels on every side (clipped at the frame border), and only the core is kept. Every tile
runs the whole clip through the streaming path (:mod:`stbn.streaming`) with the flows of the full frame,
cropped; the outputs are assembled frame by frame. Window origins are multiples of 4, so SRFE's 4x4
patch-unshuffle grid lines up with the untiled one, and a tile differs from the untiled result only
through what lies beyond its window: the receptive field of one frame is about +-100 px at paper width
and grows with every recurrent step, but its weight decays fast (``docs/performance.md``).
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path

import torch

from stbn import speed
from stbn.models.network import STBN
from stbn.streaming import Crop, ingest, stream_stored

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


def stream_tiled(
    net: STBN,
    frames: Iterable[torch.Tensor],
    noise_map: torch.Tensor | float | None = None,
    flows: tuple[torch.Tensor, torch.Tensor] | None = None,
    *,
    tile: int,
    overlap: int,
    spill: bool = True,
    spill_dir: str | Path | None = None,
    segment: int = 0,
    precision: speed.Precision = "fp32",
    channels_last: bool = False,
    time_ensemble: bool = False,
) -> Iterator[tuple[torch.Tensor, torch.Tensor]]:
    """:func:`stbn.streaming.stream_outputs` tile by tile: same arguments and yields, plus ``tile`` (core
    side in pixels) and ``overlap`` (context on each side). Outputs are yielded once every tile has
    run; each tile's cores wait in a store (on disk with ``spill``)."""
    speed.check_precision(precision, next(net.parameters()).device)
    clip = ingest(net, frames, flows, spill=spill, spill_dir=spill_dir)
    stores = []
    try:
        tiles = tile_grid(*clip.size, tile, overlap)
        for tl in tiles:
            store = clip.new_store()
            stores.append(store)
            runs = stream_stored(net, clip, noise_map, segment=segment, precision=precision,
                                 channels_last=channels_last, crop=tl.window, time_ensemble=time_ensemble)
            for t, (_, out) in enumerate(runs):
                store.put(t, out[..., tl.inner[0], tl.inner[1]])
        for t in range(clip.length):
            noisy = clip.frames.get(t)
            out = None
            for tl, store in zip(tiles, stores):
                core = store.get(t)
                if out is None:
                    out = core.new_empty(*core.shape[:-2], *clip.size)
                out[..., tl.core[0], tl.core[1]] = core
            yield noisy, out
    finally:
        for store in stores:
            store.close()
        clip.close()
