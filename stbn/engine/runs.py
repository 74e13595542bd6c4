"""One run of the network over one view of the stored clip: per-frame outputs, in the view's time order.

A run is the whole clip at once, or streamed as the method streams (``docs/methods.md``):

- :func:`whole_clip`: the network's ``forward`` on the view's frames (and flows, for a method with an
  estimator) at once; every state of the clip is held.
- :func:`streamed`: :func:`sliding` for a method that slides a window over the frames (it has a
  ``stream``: UDVD), else :func:`recurrent` (STBN).
- :func:`sliding`: one pass in time order through the network's ``stream``, which holds a few frames and
  their encodings whatever T (UDVD: three of each).
- :func:`recurrent`: STBN's recurrence (:meth:`STBN.propagate`, run in segments from an incoming state)
  and its per-frame :meth:`STBN.decode`, in two passes over the stored frames. The *backward* pass runs
  from the last frame to the first and either spills every state to a store (``spill``) or keeps one
  checkpoint state every ``segment`` frames; the *forward* pass runs from the first frame, reads each
  frame's backward state back (or recomputes its segment from the checkpoint), decodes it with the
  forward state and yields the output at once.

Streamed and whole-clip runs give the same outputs (STBN up to floating-point summation order: the whole
clip decodes every frame in one batch; UDVD bit for bit: its ``forward`` is its ``stream``).

With spilling, resident memory is independent of T (STBN: two states, a window of at most 8 frames and
their flows, one decode; UDVD: its window). Without, nothing touches the disk and STBN's backward
recurrence runs twice; about ``2 sqrt(T)`` states are resident (one checkpoint per segment plus one
segment's states), and so are *all* T frames (and STBN's 2(T-1) flows) of the clip: memory grows
linearly with T, by about 14.5 MB per frame at 960x540 in fp32 (6.2 MB frame, 8.3 MB flows), plus
``sqrt(T)`` growth of the states (133 MB each at 960x540 and paper width).

Autocast (``speed.precision``) is entered only around computation, never across a yield; outputs come
back in the frames' dtype, contiguous NCHW.
"""

from __future__ import annotations

import contextlib
import math
from collections.abc import Iterator

import torch

from stbn.config import SpeedConfig
from stbn.engine import speed as switches
from stbn.engine.clip import Direction, View
from stbn.engine.stores import MemoryStore, Storage

SPILL_SEGMENT = 8
"""Frames per window when spilling: bounds the frames and flows held at once."""


def whole_clip(net: torch.nn.Module, view: View, noise_map: torch.Tensor | float | None,
               speed: SpeedConfig) -> Iterator[torch.Tensor]:
    """Outputs ``(N, out_channels, h, w)`` for t = 0 .. T-1 of one whole-clip forward pass over ``view``."""
    x = view.window(0, view.length)
    fwd, bwd = view.flows(0, view.length, "forward"), view.flows(0, view.length, "backward")
    flows = {} if fwd is None else {"flows": (fwd, bwd)}
    m = view.crop_map(noise_map) if net.uses_noise_map else None
    with torch.no_grad(), switches.autocast(speed.precision, x.device):
        out = net(x, noise_map=m, **flows)
    out = out.to(x.dtype)
    for t in range(view.length):
        yield out[:, t]


@contextlib.contextmanager
def _compute(precision: switches.Precision, device: torch.device) -> Iterator[None]:
    """No gradient and the requested autocast."""
    with torch.no_grad(), switches.autocast(precision, device):
        yield


def _segment(
    net: torch.nn.Module, view: View, noise_map: torch.Tensor | float | None, speed: SpeedConfig,
    direction: Direction, start: int, stop: int, state: torch.Tensor | None,
) -> Iterator[tuple[int, torch.Tensor, torch.Tensor]]:
    """Run ``direction`` over frames ``[start, stop)`` from the neighbour's incoming ``state``, yielding
    ``(t, noisy_t, state_t)`` in processing order."""
    lo = start - 1 if direction == "forward" and state is not None else start
    hi = stop + 1 if direction == "backward" and state is not None else stop
    noisy, flows = view.window(lo, hi, speed.channels_last), view.flows(lo, hi, direction)
    m = net.expand_noise_map(view.crop_map(noise_map), noisy)
    local = range(start - lo, stop - lo) if direction == "forward" else range(stop - 1 - lo, start - 1 - lo, -1)
    steps = net.propagate(noisy, m, flows, direction, times=local, state=state)
    while True:
        with _compute(speed.precision, noisy.device):
            item = next(steps, None)
        if item is None:
            return
        yield lo + item[0], noisy[:, item[0]], item[1]


def streamed(
    net: torch.nn.Module, view: View, noise_map: torch.Tensor | float | None, speed: SpeedConfig,
    storage: Storage, segment: int = 0,
) -> Iterator[torch.Tensor]:
    """Outputs ``(N, out_channels, h, w)`` for t = 0 .. T-1 of the method's streamed run over ``view``:
    :func:`sliding` for a network with a ``stream``, else :func:`recurrent` (``storage``, ``segment``)."""
    if hasattr(net, "stream"):
        return sliding(net, view, noise_map, speed)
    return recurrent(net, view, noise_map, speed, storage, segment)


def sliding(
    net: torch.nn.Module, view: View, noise_map: torch.Tensor | float | None, speed: SpeedConfig
) -> Iterator[torch.Tensor]:
    """Outputs ``(N, out_channels, h, w)`` for t = 0 .. T-1 of ``net.stream`` over ``view``'s frames, read
    once in time order (the method yields frame t once it has read the frames its window needs)."""
    frames = (view.frame(t) for t in range(view.length))
    m = view.crop_map(noise_map) if net.uses_noise_map else None
    steps, device = net.stream(frames, m), next(net.parameters()).device
    while True:
        with _compute(speed.precision, device):
            item = next(steps, None)
        if item is None:
            return
        noisy_t, out = item
        yield out.to(noisy_t.dtype).contiguous()


def recurrent(
    net: torch.nn.Module, view: View, noise_map: torch.Tensor | float | None, speed: SpeedConfig,
    storage: Storage, segment: int = 0,
) -> Iterator[torch.Tensor]:
    """Outputs ``(N, out_channels, h, w)`` for t = 0 .. T-1 of the backward-then-forward schedule over
    ``view``: backward states spilled to a store of ``storage`` if it spills, else recomputed from one
    checkpoint every ``segment`` frames (0: 8 when spilling, else ``ceil(sqrt(T))``)."""
    t_len = view.length
    k = segment if segment > 0 else (SPILL_SEGMENT if storage.spill else math.isqrt(t_len - 1) + 1)
    bounds = [(s, min(s + k, t_len)) for s in range(0, t_len, k)]
    states = storage.new()
    try:
        checkpoints: dict[int, torch.Tensor | None] = {t_len: None}
        incoming = None  # the state a segment starts from: its neighbour's last
        for s, e in reversed(bounds):
            for t, _, state in _segment(net, view, noise_map, speed, "backward", s, e, incoming):
                if storage.spill:
                    states.put(t, state)
            incoming = state
            if not storage.spill:
                checkpoints[s] = state
        incoming = None
        for s, e in bounds:
            if not storage.spill:
                states = MemoryStore()
                for t, _, b in _segment(net, view, noise_map, speed, "backward", s, e, checkpoints.pop(e)):
                    states.put(t, b)
            for t, noisy_t, state in _segment(net, view, noise_map, speed, "forward", s, e, incoming):
                with _compute(speed.precision, noisy_t.device):
                    out = net.decode(state, states.get(t))
                yield out.to(noisy_t.dtype).contiguous()
            incoming = state
    finally:
        states.close()
