"""One stored clip and the views the engine runs on: a crop of its frames, in either time order, with the
flows of each adjacent pair.

The clip is read once (:func:`ingest`) into a store of frames; the flows of each adjacent pair are
estimated as the pair arrives (:mod:`stbn.engine.flows`). A :class:`View` reads the stored frames through
a crop (a shift-ensemble window, a tile), a span of time (a time window) and a time order (the
time-reversal ensemble), with flows that are either the clip's own, cropped or spanned (tiles, time
windows), or estimated for the view (shift windows, re-estimation).
"""

from __future__ import annotations

from collections import deque
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, replace
from typing import Literal

import torch

from stbn.engine.flows import pair_flows
from stbn.engine.stores import IndexedStore, Storage, TensorStore

Direction = Literal["forward", "backward"]
Crop = tuple[slice, slice]
"""``(rows, cols)`` with integer ``start`` and ``stop``."""


def _shifted(outer: Crop, inner: Crop) -> Crop:
    """``inner`` (relative to ``outer``) as a crop of what ``outer`` crops."""
    return tuple(slice(o.start + i.start, o.start + i.stop) for o, i in zip(outer, inner))  # type: ignore[return-value]


def full(size: tuple[int, int]) -> Crop:
    """The crop of a whole ``(H, W)`` frame."""
    return slice(0, size[0]), slice(0, size[1])


@dataclass(frozen=True)
class View:
    """Frames ``t = 0 .. length-1`` of a stored clip, each ``(N, C, h, w)``: ``frames[t]`` cropped to
    ``crop``; and the flows of the pair ``(t-1, t)``, ``fwd[t-1]`` (aligns t-1 to t) and ``bwd[t-1]`` (aligns t
    to t-1), each ``(N, 2, h, w)`` after cropping to ``flow_crop`` (None: a model without flows).
    ``frame_size`` is the stored frames' ``(H, W)``, to recognise a full-size noise map."""

    frames: TensorStore
    length: int
    frame_size: tuple[int, int]
    crop: Crop
    fwd: TensorStore | None = None
    bwd: TensorStore | None = None
    flow_crop: Crop | None = None

    @property
    def size(self) -> tuple[int, int]:
        """``(h, w)`` of the view's frames."""
        return self.crop[0].stop - self.crop[0].start, self.crop[1].stop - self.crop[1].start

    def cropped(self, crop: Crop) -> View:
        """The view restricted to ``crop`` (relative to this view), flows cropped alike."""
        flow_crop = _shifted(self.flow_crop, crop) if self.flow_crop is not None else None
        return replace(self, crop=_shifted(self.crop, crop), flow_crop=flow_crop)

    def reversed(self) -> View:
        """The view in reverse time order: frame t is frame T-1-t, and the pair ``(t-1, t)`` of the reversed
        view is the pair ``(T-1-t, T-t)`` with ``fwd`` and ``bwd`` exchanged (the flow aligning the reversed
        view's frame t-1 to t is this view's backward flow of that pair)."""
        last = self.length - 1
        flows = {}
        if self.fwd is not None and self.bwd is not None:
            flows = {"fwd": IndexedStore(self.bwd, last - 1, -1), "bwd": IndexedStore(self.fwd, last - 1, -1)}
        return replace(self, frames=IndexedStore(self.frames, last, -1), **flows)

    def span(self, lo: int, hi: int) -> View:
        """Frames ``[lo, hi)`` of the view as a view of ``hi - lo`` frames, with the flows of the pairs inside."""
        if not 0 <= lo < hi <= self.length:
            raise ValueError(f"span [{lo}, {hi}) is not inside the view's {self.length} frames")
        flows = {}
        if self.fwd is not None and self.bwd is not None:
            flows = {"fwd": IndexedStore(self.fwd, lo), "bwd": IndexedStore(self.bwd, lo)}
        return replace(self, frames=IndexedStore(self.frames, lo), length=hi - lo, **flows)

    def with_flows(self, fwd: TensorStore, bwd: TensorStore) -> View:
        """The view with other flows, stored at the view's size."""
        return replace(self, fwd=fwd, bwd=bwd, flow_crop=full(self.size))

    def frame(self, t: int) -> torch.Tensor:
        """Frame t, ``(N, C, h, w)``."""
        return self.frames.get(t)[..., self.crop[0], self.crop[1]]

    def window(self, lo: int, hi: int, channels_last: bool = False) -> torch.Tensor:
        """Frames ``[lo, hi)`` as ``(N, L, C, h, w)``; channels-last per time step if asked."""
        return _stack([self.frame(t) for t in range(lo, hi)], channels_last)

    def flows(self, lo: int, hi: int, direction: Direction) -> torch.Tensor | None:
        """That direction's flows of the pairs inside frames ``[lo, hi)``: ``(N, L-1, 2, h, w)`` (None
        without flows)."""
        store = self.fwd if direction == "forward" else self.bwd
        if store is None or self.flow_crop is None:
            return None
        rows, cols = self.flow_crop
        pairs = [store.get(t)[..., rows, cols] for t in range(lo, hi - 1)]
        if pairs:
            return torch.stack(pairs, dim=1)
        first = self.frames.get(0)
        return first.new_zeros(first.shape[0], 0, 2, *self.size)

    def crop_map(self, m: torch.Tensor | float | None) -> torch.Tensor | float | None:
        """A noise level for the view's frames: a full-size map ``(..., H, W)`` cropped like them, anything
        else (a float, a map broadcast over the frame) as it is."""
        if isinstance(m, torch.Tensor) and m.dim() >= 2 and tuple(m.shape[-2:]) == self.frame_size:
            return m[..., self.crop[0], self.crop[1]]
        return m


def _stack(frames: list[torch.Tensor], channels_last: bool) -> torch.Tensor:
    """``L x (N, C, H, W) -> (N, L, C, H, W)``; with ``channels_last`` each ``[:, t]`` is NHWC in memory."""
    if not channels_last:
        return torch.stack(frames, dim=1)
    n, c, h, w = frames[0].shape
    out = frames[0].new_empty(n, len(frames), h, w, c).permute(0, 1, 4, 2, 3)
    for t, f in enumerate(frames):
        out[:, t].copy_(f)
    return out


def ingest(net: torch.nn.Module, frames: Iterable[torch.Tensor], storage: Storage, flows: bool) -> View:
    """Read ``frames`` (each ``(N, C, H, W)``, moved to the storage's device) into a store; with ``flows``,
    estimate each adjacent pair's flows with ``net``'s estimator as the pair arrives. Returns the whole clip
    as a view."""
    store = storage.new()
    shape: torch.Size | None = None
    length = 0

    def stored() -> Iterator[torch.Tensor]:
        nonlocal shape, length
        for t, x in enumerate(frames):
            x = x.to(storage.device)
            if x.dim() != 4 or x.shape[1] != net.in_channels:
                raise ValueError(f"denoise expects frames (N,{net.in_channels},H,W), got {tuple(x.shape)}")
            if shape is not None and x.shape != shape:
                raise ValueError(f"frame {t} is {tuple(x.shape)}, frame 0 was {tuple(shape)}")
            store.put(t, x)
            shape, length = x.shape, t + 1
            yield x

    fwd, bwd = pair_flows(net, stored(), storage) if flows else (None, None)
    if not flows:
        deque(stored(), maxlen=0)
    if shape is None:
        raise ValueError("denoise got no frames")
    size = (shape[-2], shape[-1])
    return View(store, length, size, full(size), fwd, bwd, full(size) if flows else None)
