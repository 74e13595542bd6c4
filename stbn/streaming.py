"""Exact, memory-bounded inference: noisy frames stream in, per-frame network outputs stream out.

Whole-clip inference (:meth:`STBN.forward`) holds both directions' states of every frame at once, so
its memory grows with the clip length T. Here the same recurrence (:meth:`STBN.propagate`, run in
segments from an incoming state) and the same per-frame :meth:`STBN.decode` run in three passes:

1. *ingest*: frames are read one at a time and stored (:mod:`stbn.spill`); the flows of each adjacent
   pair are estimated as the pair arrives (or taken from precomputed tensors);
2. *backward*: the backward recurrence runs from the last frame to the first and either spills every
   state to disk (``spill=True``) or keeps one checkpoint state every ``segment`` frames in memory;
3. *forward*: the forward recurrence runs from the first frame; each frame's backward state is read
   back (or recomputed segment by segment from its checkpoint), decoded with the forward state, and the
   output is yielded at once.

With ``spill=True`` resident memory is independent of T (two states, a window of at most 8 frames and
their flows, one decode). With ``spill=False`` nothing touches the disk and the backward recurrence runs
twice; about ``2 sqrt(T)`` states are resident (one checkpoint per segment plus one segment's states),
and so are *all* T frames and 2(T-1) flows of the clip: memory grows linearly with T, by about 14.5 MB per
frame at 960x540 in fp32 (6.2 MB frame, 8.3 MB flows), plus ``sqrt(T)`` growth of the states (133 MB
each at 960x540 and paper width). Precomputed ``flows`` are held as given in either mode.

With ``time_ensemble`` the schedule also runs over the clip in reverse time order (a view of the stored
clip: frame t is frame T-1-t, and the pairs' forward and backward flows swap roles, so the forward cell
sees the clip backwards and vice versa); those outputs wait in a store of the clip's kind and each frame
yields both outputs.

A model with :attr:`STBN.reestimate_flow` gets one more pass first (:func:`reestimate_flows`): the same
schedule runs over the stored clip, each pair's flows are estimated again on the pseudo-clean mean as
the pair's outputs arrive (one mean frame is held), into stores of the clip's kind that then replace the
noisy frames' flows.

Outputs equal whole-clip inference for the same model and flows up to floating-point summation order
(different batch sizes in the convolutions).
"""

from __future__ import annotations

import contextlib
import copy
import math
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import torch

from stbn import speed
from stbn.models.network import STBN, Direction
from stbn.spill import DiskStore, MemoryStore, TensorStore

SPILL_SEGMENT = 8  # frames per window when spilling: bounds the frames and flows held at once

Crop = tuple[slice, slice]
FULL: Crop = (slice(None), slice(None))


@dataclass
class StoredClip:
    """A clip held frame by frame: ``frames[t]`` ``(N, C, H, W)``, ``fwd[t-1]``/``bwd[t-1]`` ``(N, 2, H, W)``
    the flows of the pair ``(t-1, t)`` (``fwd`` aligns t-1 to t, ``bwd`` aligns t to t-1)."""

    device: torch.device
    spill: bool = True
    spill_dir: str | Path | None = None
    precomputed_flows: bool = False
    length: int = 0
    size: tuple[int, int] = (0, 0)
    frames: TensorStore = field(init=False)
    fwd: TensorStore = field(init=False)
    bwd: TensorStore = field(init=False)

    def __post_init__(self) -> None:
        self.frames = self.new_store()
        self.fwd = MemoryStore() if self.precomputed_flows else self.new_store()
        self.bwd = MemoryStore() if self.precomputed_flows else self.new_store()

    def new_store(self) -> TensorStore:
        """An empty store of the clip's kind: a temporary file if ``spill``, else memory."""
        return DiskStore(self.device, self.spill_dir) if self.spill else MemoryStore()

    def window(
        self, lo: int, hi: int, direction: Direction, crop: Crop, channels_last: bool
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """Frames ``[lo, hi)`` as ``(N, L, C, h, w)`` and that direction's flows of the pairs inside,
        ``(N, L-1, 2, h, w)``, cropped; frames are channels-last per time step if asked."""
        frames = _stack([self.frames.get(t)[..., crop[0], crop[1]] for t in range(lo, hi)], channels_last)
        store = self.fwd if direction == "forward" else self.bwd
        flows = [store.get(t)[..., crop[0], crop[1]] for t in range(lo, hi - 1)]
        if flows:
            return frames, torch.stack(flows, dim=1)
        n, _, _, h, w = frames.shape
        return frames, frames.new_zeros(n, 0, 2, h, w)

    def close(self) -> None:
        """Release the stores."""
        for store in (self.frames, self.fwd, self.bwd):
            store.close()

    def reversed(self) -> StoredClip:
        """A view of the clip in reverse time order (closing it releases nothing): frame t is frame
        T-1-t, and the pair ``(t-1, t)`` of the view is the pair ``(T-1-t, T-t)`` with ``fwd`` and ``bwd``
        exchanged (the flow aligning the view's frame t-1 to t is the clip's backward flow of that pair)."""
        view = copy.copy(self)
        view.frames = _ReversedStore(self.frames, self.length - 1)
        view.fwd = _ReversedStore(self.bwd, self.length - 2)
        view.bwd = _ReversedStore(self.fwd, self.length - 2)
        return view


@dataclass
class _ReversedStore:
    """Read-only view of ``store`` with index ``i`` mapped to ``last - i``."""

    store: TensorStore
    last: int

    def put(self, i: int, x: torch.Tensor) -> None:
        """Views are read-only."""
        raise TypeError("a reversed view of a stored clip is read-only")

    def get(self, i: int) -> torch.Tensor:
        """The tensor stored under ``last - i``."""
        return self.store.get(self.last - i)

    def close(self) -> None:
        """Nothing to release: the viewed store belongs to the clip."""


def _stack(frames: list[torch.Tensor], channels_last: bool) -> torch.Tensor:
    """``L x (N, C, H, W) -> (N, L, C, H, W)``; with ``channels_last`` each ``[:, t]`` is NHWC in memory."""
    if not channels_last:
        return torch.stack(frames, dim=1)
    n, c, h, w = frames[0].shape
    out = frames[0].new_empty(n, len(frames), h, w, c).permute(0, 1, 4, 2, 3)
    for t, f in enumerate(frames):
        out[:, t].copy_(f)
    return out


def _put_pair_flows(
    net: STBN, fwd: TensorStore, bwd: TensorStore, t: int, prev: torch.Tensor, cur: torch.Tensor
) -> None:
    """Estimate the flows of the pair ``(t-1, t)`` from frames ``(N, C, H, W)`` in full precision and
    store them under ``t-1``."""
    f, b = net.estimate_flows(torch.stack((prev, cur), dim=1))
    fwd.put(t - 1, f[:, 0])
    bwd.put(t - 1, b[:, 0])


def reestimate_flows(net: STBN, clip: StoredClip, outputs: Iterable[torch.Tensor]) -> None:
    """Replace ``clip``'s flows by flows estimated on the pseudo-clean mean (:meth:`STBN.pseudo_clean`)
    of ``outputs``, the network outputs ``(N, out_channels, H, W)`` of a first pass over the whole
    frames of ``clip`` for t = 0 .. T-1. Pairs are estimated as they arrive; only one mean frame is held."""
    fwd, bwd = clip.new_store(), clip.new_store()
    prev: torch.Tensor | None = None
    try:
        for t, out in enumerate(outputs):
            mean = net.pseudo_clean(out.unsqueeze(1))[:, 0]
            if prev is not None:
                _put_pair_flows(net, fwd, bwd, t, prev, mean)
            prev = mean
    except BaseException:
        fwd.close()
        bwd.close()
        raise
    clip.fwd.close()
    clip.bwd.close()
    clip.fwd, clip.bwd = fwd, bwd


def ingest(
    net: STBN,
    frames: Iterable[torch.Tensor],
    flows: tuple[torch.Tensor, torch.Tensor] | None = None,
    spill: bool = True,
    spill_dir: str | Path | None = None,
) -> StoredClip:
    """Read ``frames`` (each ``(N, C, H, W)``) into a :class:`StoredClip`, estimating each pair's flows
    with ``net``'s estimator in full precision, unless precomputed ``flows`` (``(N, T-1, 2, H, W)`` each,
    :meth:`STBN.forward`'s convention) are given."""
    clip = StoredClip(next(net.parameters()).device, spill, spill_dir, precomputed_flows=flows is not None)
    prev: torch.Tensor | None = None
    try:
        for t, x in enumerate(frames):
            if x.dim() != 4 or x.shape[1] != net.in_channels:
                raise ValueError(f"streaming expects frames (N,{net.in_channels},H,W), got {tuple(x.shape)}")
            if prev is not None and x.shape != prev.shape:
                raise ValueError(f"frame {t} is {tuple(x.shape)}, frame 0 was {tuple(prev.shape)}")
            clip.frames.put(t, x)
            if prev is not None and flows is None:
                _put_pair_flows(net, clip.fwd, clip.bwd, t, prev, x)
            prev, clip.length, clip.size = x, t + 1, (x.shape[-2], x.shape[-1])
        if prev is None:
            raise ValueError("streaming got no frames")
        if flows is not None:
            expected = (prev.shape[0], clip.length - 1, 2, *clip.size)
            if any(tuple(f.shape) != expected for f in flows):
                raise ValueError(f"flows must be (N,T-1,2,H,W) = {expected}, got {[tuple(f.shape) for f in flows]}")
            for i in range(clip.length - 1):
                clip.fwd.put(i, flows[0][:, i])
                clip.bwd.put(i, flows[1][:, i])
    except BaseException:
        clip.close()
        raise
    return clip


@dataclass
class _Runner:
    """One streaming run of ``net`` over ``clip`` restricted to ``crop``, with the speed switches."""

    net: STBN
    clip: StoredClip
    noise_map: torch.Tensor | float | None
    crop: Crop
    precision: speed.Precision
    channels_last: bool

    @contextlib.contextmanager
    def compute(self, device: torch.device) -> Iterator[None]:
        """No gradient and the requested autocast, entered only around computation (never across a yield)."""
        with torch.no_grad(), speed.autocast(self.precision, device):
            yield

    def segment(
        self, direction: Direction, start: int, stop: int, state: torch.Tensor | None
    ) -> Iterator[tuple[int, torch.Tensor, torch.Tensor]]:
        """Run ``direction`` over frames ``[start, stop)`` from the neighbour's incoming ``state``, yielding
        ``(t, noisy_t, state_t)`` in processing order."""
        lo = start - 1 if direction == "forward" and state is not None else start
        hi = stop + 1 if direction == "backward" and state is not None else stop
        noisy, flows = self.clip.window(lo, hi, direction, self.crop, self.channels_last)
        m = self.net.expand_noise_map(self._map(), noisy)
        local = range(start - lo, stop - lo) if direction == "forward" else range(stop - 1 - lo, start - 1 - lo, -1)
        steps = self.net.propagate(noisy, m, flows, direction, times=local, state=state)
        while True:
            with self.compute(noisy.device):
                item = next(steps, None)
            if item is None:
                return
            yield lo + item[0], noisy[:, item[0]], item[1]

    def _map(self) -> torch.Tensor | float | None:
        """The noise map, cropped like the frames if it is a full-size map."""
        m = self.noise_map
        if isinstance(m, torch.Tensor) and m.dim() >= 2 and tuple(m.shape[-2:]) == self.clip.size:
            return m[..., self.crop[0], self.crop[1]]
        return m

    def decode(self, fwd_state: torch.Tensor, bwd_state: torch.Tensor, like: torch.Tensor) -> torch.Tensor:
        """Decode one frame and return it in ``like``'s dtype, contiguous NCHW."""
        with self.compute(like.device):
            out = self.net.decode(fwd_state, bwd_state)
        return out.to(like.dtype).contiguous()

    def run(self, segment: int) -> Iterator[tuple[torch.Tensor, torch.Tensor]]:
        """The backward then forward schedule; yields ``(noisy_t, out_t)`` for t = 0 .. T-1."""
        t_len = self.clip.length
        k = segment if segment > 0 else (SPILL_SEGMENT if self.clip.spill else math.isqrt(t_len - 1) + 1)
        bounds = [(s, min(s + k, t_len)) for s in range(0, t_len, k)]
        states = self.clip.new_store()
        try:
            checkpoints: dict[int, torch.Tensor | None] = {t_len: None}
            state = None
            for s, e in reversed(bounds):
                for t, _, state in self.segment("backward", s, e, state):
                    if self.clip.spill:
                        states.put(t, state)
                if not self.clip.spill:
                    checkpoints[s] = state
            fwd_state = None
            for s, e in bounds:
                if not self.clip.spill:
                    states = MemoryStore()
                    for t, _, b in self.segment("backward", s, e, checkpoints.pop(e)):
                        states.put(t, b)
                for t, noisy_t, fwd_state in self.segment("forward", s, e, fwd_state):
                    yield noisy_t, self.decode(fwd_state, states.get(t), noisy_t)
        finally:
            states.close()


def stream_outputs(
    net: STBN,
    frames: Iterable[torch.Tensor],
    noise_map: torch.Tensor | float | None = None,
    flows: tuple[torch.Tensor, torch.Tensor] | None = None,
    *,
    spill: bool = True,
    spill_dir: str | Path | None = None,
    segment: int = 0,
    precision: speed.Precision = "fp32",
    channels_last: bool = False,
    crop: Crop = FULL,
    time_ensemble: bool = False,
) -> Iterator[tuple[torch.Tensor, torch.Tensor]]:
    """Denoise a clip frame by frame with bounded memory.

    Parameters
    ----------
    net
        The model, in eval mode; with ``channels_last`` it should have been through
        :func:`stbn.speed.prepare_model`.
    frames
        Noisy frames, each ``(N, C, H, W)``, read once, in order (e.g. a generator over a reader).
    noise_map
        As for :meth:`STBN.forward`, constant over time: a float sigma on the [0, 1] scale or a tensor
        broadcastable to ``(N, 1, C, H, W)``.
    flows
        Optional precomputed ``(fwd, bwd)``, each ``(N, T-1, 2, H, W)``; default: the model's estimator,
        one adjacent pair at a time. A model with :attr:`STBN.reestimate_flow` re-estimates them on the
        mean of a first pass over the whole frames (:func:`reestimate_flows`).
    spill, spill_dir
        Spill frames, flows and backward states to a temporary file in ``spill_dir`` (None: the system
        temp folder) so memory does not grow with T; False keeps every frame and flow in memory (linear
        in T) and recomputes the backward states from checkpoints instead of storing them.
    segment
        Frames per segment (0: 8 when spilling, else ``ceil(sqrt(T))``); with ``spill=False`` one
        checkpoint per segment.
    precision, channels_last
        Speed switches (:mod:`stbn.speed`); flows are always estimated in full precision.
    crop
        ``(rows, cols)`` slices: run on this window of every frame (used by :mod:`stbn.tiling`).
    time_ensemble
        Also run the clip in reverse time order; the reversed run's outputs are held in a store (on disk
        with ``spill``, else in memory: linear in T) until the forward run reaches their frame.

    Yields
    ------
    tuple[torch.Tensor, torch.Tensor]
        Per frame t in order: the noisy frame ``(N, C, h, w)`` and the network output
        ``(N, out_channels, h, w)`` in the frames' dtype; with ``time_ensemble`` the outputs of the
        forward-time and the reversed-time run stacked, ``(2, N, out_channels, h, w)``.
    """
    speed.check_precision(precision, next(net.parameters()).device)
    clip = ingest(net, frames, flows, spill=spill, spill_dir=spill_dir)
    try:
        kw = dict(segment=segment, precision=precision, channels_last=channels_last)
        if net.reestimate_flow:
            reestimate_flows(net, clip, (out for _, out in stream_stored(net, clip, noise_map, **kw)))
        yield from stream_stored(net, clip, noise_map, crop=crop, time_ensemble=time_ensemble, **kw)
    finally:
        clip.close()


def stream_stored(
    net: STBN,
    clip: StoredClip,
    noise_map: torch.Tensor | float | None,
    *,
    segment: int = 0,
    precision: speed.Precision = "fp32",
    channels_last: bool = False,
    crop: Crop = FULL,
    time_ensemble: bool = False,
) -> Iterator[tuple[torch.Tensor, torch.Tensor]]:
    """:func:`stream_outputs` on an already ingested clip (which stays open, e.g. for several crops)."""
    run = _Runner(net, clip, noise_map, crop, precision, channels_last).run(segment)
    if not time_ensemble:
        yield from run
        return
    reversed_outputs = clip.new_store()
    try:
        last = clip.length - 1
        backwards = _Runner(net, clip.reversed(), noise_map, crop, precision, channels_last).run(segment)
        for s, (_, out) in enumerate(backwards):
            reversed_outputs.put(last - s, out)
        for t, (noisy, out) in enumerate(run):
            yield noisy, torch.stack((out, reversed_outputs.get(t)))
    finally:
        reversed_outputs.close()
