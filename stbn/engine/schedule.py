"""The schedule: which runs over which views of the stored clip, and how their outputs combine.

:func:`denoise` reads the clip once into stores (:func:`stbn.engine.clip.ingest`, flows estimated pair by
pair) and then, for the ``infer`` options:

- **shift windows** (``shift_ensemble`` k): the views ``[dy:, dx:]``, dy, dx in 0..k-1, each with flows
  estimated on its own frames (the whole clip keeps the ingested ones);
- per shift window, the **time windows** (``time_window`` L, ``window_stride`` S; :func:`time_windows`): the
  spans of L frames starting every S frames, the last ending with the clip (one span of the whole clip by
  default), with the flows of the pairs inside;
- per span, **flow re-estimation** (``reestimate_flows``): a first run whose pseudo-clean mean the flows
  are estimated on again (:mod:`stbn.engine.flows`);
- per span, the **time directions**: the span, and with ``time_ensemble`` the span in reverse time order;
- per direction, one **run** (:mod:`stbn.engine.runs`: whole clip, or streamed as the method streams:
  STBN's recurrence, UDVD's sliding window), cut into **tiles** if ``tile`` (:mod:`stbn.engine.tiles`).

Methods without flows (UDVD) estimate none: the shift windows and the time directions are the same views
and the same code as STBN's.

Each run's outputs become per-frame estimates (posterior mean, or the direct output); the two time
directions of a span are averaged, a frame's estimates are averaged over the spans that hold it, shift
windows are accumulated per pixel and divided by the number of windows holding the pixel, and the result
is clamped to [0, 1]. A frame leaves its shift window as soon as no later span holds it. Everything that
waits (a reversed run's estimates, the spans' and the windows' running sums, tile cores, backward states)
waits in stores of the clip's kind:
temporary files when ``infer.streaming`` and ``infer.spill``, else memory; the last run of the schedule
yields frame by frame.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from functools import partial

import torch

from stbn.config import InferConfig, SpeedConfig
from stbn.engine import speed as switches
from stbn.engine.clip import View, ingest
from stbn.engine.flows import pair_flows, reestimate
from stbn.engine.runs import streamed, whole_clip
from stbn.engine.stores import Storage
from stbn.engine.tiles import tiled
from stbn.models.losses import posterior_mean

Sigma = float | torch.Tensor | None


def denoise(
    net: torch.nn.Module,
    frames: Iterable[torch.Tensor],
    sigma: Sigma = None,
    infer: InferConfig | None = None,
    speed: SpeedConfig | None = None,
    *,
    reestimate_flows: bool = False,
) -> Iterator[torch.Tensor]:
    """Denoise a clip: noisy frames in, clamped estimates out, one per frame, in order.

    Parameters
    ----------
    net
        The model (switched to eval mode for the call; with ``speed.channels_last`` converted in place).
    frames
        Noisy frames ``(N, C, H, W)`` (N clips denoised side by side), read once, in order, e.g. a generator
        over a reader or ``clip.unbind(1)`` of a ``(N, T, C, H, W)`` tensor; moved to the model's device.
    sigma
        Noise std on the [0, 1] scale, constant over time: a float or a tensor broadcastable to
        ``(N, 1, 1, H, W)``; Gaussian-head and noise-map models need it, the others ignore it.
    infer, speed
        The config's sections (default: streaming with spill, no ensembles; the fp32 NCHW reference).
        ``speed: auto`` is resolved here for the model's device (:func:`stbn.engine.speed.resolve`).
    reestimate_flows
        Re-estimate the flows on a first pass's pseudo-clean mean (``flow.refinement == "reestimate"``:
        the model was trained so).

    Yields
    ------
    torch.Tensor
        Per frame: ``(N, C, H, W)`` in [0, 1], the frames' dtype, on the model's device. The bidirectional
        pass reads every frame before the first estimate comes out.
    """
    infer = infer or InferConfig()
    if sigma is None and (net.head_kind == "gaussian" or net.uses_noise_map):
        raise ValueError("this model needs the noise level: pass sigma (std on the [0, 1] scale)")
    device = next(net.parameters()).device
    speed = switches.resolve(speed or switches.REFERENCE, device)
    switches.check_precision(speed.precision, device)
    sigma = sigma.to(device) if isinstance(sigma, torch.Tensor) else sigma
    was_training = net.training
    net.eval()
    switches.prepare_model(net, speed.channels_last)
    storage = Storage(device, infer.streaming and infer.spill, infer.spill_dir)
    try:
        clip = ingest(net, frames, storage, flows=hasattr(net, "estimate_flows"))
        plan = _Plan(net, sigma, infer, speed, reestimate_flows, storage)
        for est in plan.estimates(clip):
            yield est.clamp(0.0, 1.0)
    finally:
        storage.close()
        net.train(was_training)


class _Plan:
    """The schedule of one :func:`denoise` call (see the module docstring)."""

    def __init__(
        self, net: torch.nn.Module, sigma: Sigma, infer: InferConfig, speed: SpeedConfig, reestimate_flows: bool,
        storage: Storage,
    ) -> None:
        self.net, self.sigma, self.infer, self.speed = net, sigma, infer, speed
        self.reestimate_flows, self.storage = reestimate_flows, storage
        self.run: Callable[[View], Iterator[torch.Tensor]] = (
            self._streamed if infer.streaming else partial(whole_clip, net, noise_map=sigma, speed=speed)
        )

    def _streamed(self, view: View) -> Iterator[torch.Tensor]:
        """One streamed run (:func:`stbn.engine.runs.streamed`)."""
        return streamed(self.net, view, self.sigma, self.speed, self.storage, self.infer.segment)

    def outputs(self, view: View) -> Iterator[torch.Tensor]:
        """Per-frame network outputs ``(N, out_channels, h, w)`` of one run over ``view``, tiled if asked."""
        if self.infer.tile:
            return tiled(self.run, view, self.infer.tile, self.infer.tile_overlap, self.storage)
        return self.run(view)

    def run_estimates(self, view: View) -> Iterator[torch.Tensor]:
        """Per-frame estimates ``(N, C, h, w)`` (not clamped) of one run over ``view``."""
        for t, out in enumerate(self.outputs(view)):
            if self.net.head_kind != "gaussian":
                yield out
                continue
            noisy = view.frame(t).unsqueeze(1)
            yield posterior_mean(out.unsqueeze(1), noisy, view.crop_map(self.sigma))[:, 0]

    def view_estimates(self, view: View, flows: Storage) -> Iterator[torch.Tensor]:
        """Per-frame estimates of one span: with re-estimated flows (stored in ``flows``) if asked, the mean
        of both time directions with the time ensemble."""
        if self.reestimate_flows:
            view = view.with_flows(*reestimate(self.net, self.outputs(view), flows))
        forward = self.run_estimates(view)
        if not self.infer.time_ensemble:
            yield from forward
            return
        backward = self.storage.new()
        try:
            for s, est in enumerate(self.run_estimates(view.reversed())):
                backward.put(view.length - 1 - s, est)
            for t, est in enumerate(forward):
                yield 0.5 * (est + backward.get(t))
        finally:
            backward.close()

    def window_estimates(self, view: View, flows: Storage) -> Iterator[torch.Tensor]:
        """Per-frame estimates of one shift window: each frame's mean over the time windows that hold it
        (:meth:`view_estimates` of each span; a span's re-estimated flows live as long as the span)."""
        spans = time_windows(view.length, self.infer.time_window, self.infer.window_stride)
        if len(spans) == 1:
            yield from self.view_estimates(view, flows)
            return
        counts = [sum(lo <= t < hi for lo, hi in spans) for t in range(view.length)]
        totals = self.storage.new()
        try:
            for i, (lo, hi) in enumerate(spans):
                final = spans[i + 1][0] if i + 1 < len(spans) else view.length  # no later span holds t < final
                summed = spans[i - 1][1] if i else lo  # frames t < summed have a running sum
                span_flows = flows.sibling()
                try:
                    for t, est in enumerate(self.view_estimates(view.span(lo, hi), span_flows), start=lo):
                        total = totals.get(t) + est if t < summed else est
                        if t < final:
                            yield total / counts[t]
                        else:
                            totals.put(t, total)
                finally:
                    span_flows.close()
        finally:
            totals.close()

    def estimates(self, clip: View) -> Iterator[torch.Tensor]:
        """Per-frame estimates ``(N, C, H, W)`` (not clamped) of the clip: with the shift ensemble, each
        pixel's mean over the windows that hold it."""
        k = self.infer.shift_ensemble
        if k == 1:
            yield from self.window_estimates(clip, self.storage)
            return
        h, w = clip.size
        count = torch.zeros(h, w, device=self.storage.device)
        windows = [(slice(dy, h), slice(dx, w)) for dy in range(k) for dx in range(k)]
        for rows, cols in windows:
            count[rows, cols] += 1.0
        totals = self.storage.new()
        try:
            for i, crop in enumerate(windows):
                flows = self.storage.sibling()  # the window's flows live as long as the window
                try:
                    view = clip.cropped(crop)
                    if i and clip.fwd is not None:  # its own flows (against the clip's, cropped: docs/performance.md)
                        view = view.with_flows(*pair_flows(self.net, map(view.frame, range(view.length)), flows))
                    for t, est in enumerate(self.window_estimates(view, flows)):
                        total = totals.get(t) if i else est.new_zeros(*est.shape[:-2], h, w)
                        total[..., crop[0], crop[1]] += est
                        if i < len(windows) - 1:
                            totals.put(t, total)
                        else:
                            yield total / count
                finally:
                    flows.close()
        finally:
            totals.close()


def time_windows(length: int, window: int, stride: int) -> list[tuple[int, int]]:
    """The spans ``[lo, hi)`` a clip of ``length`` frames is denoised in (``infer.time_window``,
    ``infer.window_stride``): ``window`` frames starting every ``stride`` frames (0: half the window, rounded
    up), the last ending with the clip; the whole clip if ``window`` is 0 or at least ``length``."""
    if not window or window >= length:
        return [(0, length)]
    stride = stride or -(-window // 2)
    return [(lo, lo + window) for lo in [*range(0, length - window, stride), length - window]]
