"""Whole-clip inference: noisy clip in, clamped clean estimate out.

This is the one entry point for denoising a clip (evaluation, validation and ``stbn denoise``). With an
``infer`` config it runs the memory-bounded streaming (and tiled) path of :mod:`stbn.streaming` and
:mod:`stbn.tiling`, and with a ``speed`` config reduced precision / channels-last (:mod:`stbn.speed`).
Models with :attr:`STBN.reestimate_flow` run twice on every path: a first pass gives the pseudo-clean
mean, the flows are estimated again on it, and the final pass uses them (:func:`propagation_flows`).
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator

import torch

from stbn import speed as speed_switches
from stbn.config import InferConfig, SpeedConfig
from stbn.errors import StbnError
from stbn.losses import posterior_mean
from stbn.models import STBN
from stbn.streaming import stream_outputs
from stbn.tiling import stream_tiled


def denoise_clip(
    net: STBN,
    noisy: torch.Tensor,
    sigma: float | torch.Tensor | None = None,
    flows: tuple[torch.Tensor, torch.Tensor] | None = None,
    infer: InferConfig | None = None,
    speed: SpeedConfig | None = None,
) -> torch.Tensor:
    """Denoise ``(T, C, H, W)`` or ``(N, T, C, H, W)`` frames; returns the same shape, clamped to [0, 1].

    ``sigma`` is the noise std on the [0, 1] scale (float or a tensor broadcastable to
    ``(N, T, 1, H, W)``); Gaussian-head models need it (noise map and posterior mean), direct-head
    models ignore it. The result is the posterior mean (Gaussian head) or the direct output. The
    model runs in eval mode without gradients on its own device; the result is on ``noisy``'s device.
    ``infer`` (default: whole clip) selects streaming/tiling, the time-reversal ensemble (the mean of the
    estimates of the clip and of the clip in reverse time order) and (whole clip only) the shift ensemble,
    ``speed`` (default: the fp32 NCHW reference; ``auto`` resolved for the model's device) the precision
    and memory format; with ``speed.channels_last`` the model is converted in place.
    """
    single = noisy.dim() == 4
    x = noisy.unsqueeze(0) if single else noisy
    if x.dim() != 5:
        raise ValueError(f"denoise_clip expects (T, C, H, W) or (N, T, C, H, W), got {tuple(noisy.shape)}")
    if sigma is None and (net.head_kind == "gaussian" or net.uses_noise_map):
        raise ValueError("this model needs the noise level: pass sigma (std on the [0, 1] scale)")
    device = next(net.parameters()).device
    x = x.to(device)
    s = sigma.to(device) if isinstance(sigma, torch.Tensor) else sigma
    was_training = net.training
    net.eval()
    speed = speed_switches.resolve(speed or speed_switches.REFERENCE, device)
    speed_switches.prepare_model(net, speed.channels_last)
    try:
        if infer is not None and infer.streaming:
            frames = (x[:, t] for t in range(x.shape[1]))
            den = torch.stack(list(denoise_frames(net, frames, s, flows, infer, speed)), 1)
        else:
            k = infer.shift_ensemble if infer is not None else 1
            total, count = torch.zeros_like(x), x.new_zeros(x.shape[-2:])
            with torch.no_grad():
                for dy in range(k):
                    for dx in range(k):
                        cut = [_window(f, dy, dx) for f in flows] if flows is not None else None
                        est = _clip_estimate(net, _window(x, dy, dx), _window(s, dy, dx), cut, infer, speed)
                        _window(total, dy, dx).add_(est)
                        _window(count, dy, dx).add_(1.0)
            den = total / count
    finally:
        net.train(was_training)
    den = den.clamp(0.0, 1.0).to(noisy.device)
    return den[0] if single else den


def propagation_flows(
    net: STBN,
    noisy: torch.Tensor,
    noise_map: torch.Tensor | float | None,
    flows: tuple[torch.Tensor, torch.Tensor] | None = None,
    precision: speed_switches.Precision = "fp32",
    reestimate: bool = False,
) -> tuple[torch.Tensor, torch.Tensor]:
    """The flows ``net`` propagates a clip ``(N, T, C, H, W)`` with: 2 x ``(N, T-1, 2, H, W)``, no gradient.

    ``flows`` if given, else ``net``'s estimator on the noisy frames, in full precision. With
    ``reestimate`` (:attr:`STBN.reestimate_flow` at inference; training from ``flow.distill.start_step``)
    a first pass of ``net`` with those flows (autocast ``precision``) gives the pseudo-clean mean, and
    the flows are estimated again on it (:meth:`STBN.pseudo_clean`). ``noise_map`` as for ``net``.
    """
    with torch.no_grad():
        if flows is None:
            flows = net.estimate_flows(noisy)
        if reestimate:
            with speed_switches.autocast(precision, noisy.device):
                first = net(noisy, noise_map=noise_map, flows=flows)
            flows = net.estimate_flows(net.pseudo_clean(first.to(noisy.dtype)))
    return flows


def _clip_estimate(
    net: STBN, x: torch.Tensor, sigma: float | torch.Tensor | None, flows: list[torch.Tensor] | None,
    infer: InferConfig | None, speed: SpeedConfig,
) -> torch.Tensor:
    """Clean estimate (not clamped) of a clip ``(N, T, C, H, W)`` in whole-clip passes: with
    ``infer.time_ensemble`` the mean of the clip's and its time reversal's."""
    m = sigma if net.uses_noise_map else None
    fwd, bwd = propagation_flows(net, x, m, tuple(flows) if flows else None, speed.precision, net.reestimate_flow)
    den = _whole_clip(net, x, sigma, (fwd, bwd), speed)
    if infer is not None and infer.time_ensemble:
        backwards = (bwd.flip(1), fwd.flip(1))  # the reversed clip's (fwd, bwd)
        den = 0.5 * (den + _whole_clip(net, x.flip(1), _reverse_time(sigma), backwards, speed).flip(1))
    return den


def _window(x: torch.Tensor | float | None, dy: int, dx: int) -> torch.Tensor | float | None:
    """``x[..., dy:, dx:]``, the shift ensemble's window (see ``InferConfig.shift_ensemble``); dimensions of
    size 1 (broadcast) and non-tensors pass whole."""
    if not isinstance(x, torch.Tensor):
        return x
    rows = slice(dy, None) if x.shape[-2] > 1 else slice(None)
    return x[..., rows, slice(dx, None) if x.shape[-1] > 1 else slice(None)]


def _whole_clip(
    net: STBN, x: torch.Tensor, sigma: float | torch.Tensor | None, flows: tuple[torch.Tensor, torch.Tensor],
    speed: SpeedConfig,
) -> torch.Tensor:
    """Clean estimate (not clamped) of a clip ``(N, T, C, H, W)`` in one whole-clip pass with ``flows``."""
    with speed_switches.autocast(speed.precision, x.device):
        out = net(x, noise_map=sigma if net.uses_noise_map else None, flows=flows)
    return _estimate(net, out.to(x.dtype), x, sigma)


def _reverse_time(sigma: float | torch.Tensor | None) -> float | torch.Tensor | None:
    """A noise level broadcastable to ``(N, T, 1, H, W)``, for the clip in reverse time order."""
    if isinstance(sigma, torch.Tensor) and sigma.dim() == 5 and sigma.shape[1] > 1:
        return sigma.flip(1)
    return sigma


def _estimate(net: STBN, out: torch.Tensor, noisy: torch.Tensor, sigma: float | torch.Tensor | None) -> torch.Tensor:
    """Clean estimate (not clamped) from the network output: posterior mean or the direct output."""
    return posterior_mean(out, noisy, sigma) if net.head_kind == "gaussian" else out


def denoise_frames(
    net: STBN,
    frames: Iterable[torch.Tensor],
    sigma: float | torch.Tensor | None = None,
    flows: tuple[torch.Tensor, torch.Tensor] | None = None,
    infer: InferConfig | None = None,
    speed: SpeedConfig | None = None,
) -> Iterator[torch.Tensor]:
    """Stream: noisy frames ``(N, C, H, W)`` in (read once, in order), clamped estimates out, one per frame.

    With ``infer.spill`` (the default) resident memory does not grow with the number of frames
    (:mod:`stbn.streaming`, which says what does without spilling; tiled if ``infer.tile``, which a
    model with :attr:`STBN.reestimate_flow` does not support yet). ``sigma`` as for :func:`denoise_clip`,
    constant over time; frames go to the model's device. The model should be in eval mode; with
    ``speed.channels_last`` it is converted in place.
    """
    infer = infer or InferConfig()
    if infer.shift_ensemble > 1:
        raise StbnError("infer.shift_ensemble > 1 runs on the whole clip: use denoise_clip with infer.streaming: false")
    if infer.tile and net.reestimate_flow:
        raise StbnError("infer.tile: tiled streaming cannot re-estimate flows (flow.distill with dis) yet; "
                        "use infer.tile: 0")
    device = next(net.parameters()).device
    speed = speed_switches.resolve(speed or speed_switches.REFERENCE, device)
    sigma = sigma.to(device) if isinstance(sigma, torch.Tensor) else sigma
    speed_switches.prepare_model(net, speed.channels_last)
    kw = dict(spill=infer.spill, spill_dir=infer.spill_dir, segment=infer.segment,
              precision=speed.precision, channels_last=speed.channels_last, time_ensemble=infer.time_ensemble)
    m = sigma if net.uses_noise_map else None
    moved = (f.to(device) for f in frames)
    if infer.tile:
        stream = stream_tiled(net, moved, m, flows, tile=infer.tile, overlap=infer.tile_overlap, **kw)
    else:
        stream = stream_outputs(net, moved, m, flows, **kw)
    per_frame = isinstance(sigma, torch.Tensor) and sigma.dim() == 5 and sigma.shape[1] > 1
    for t, (noisy_t, out_t) in enumerate(stream):
        s = sigma[:, t : t + 1] if per_frame else sigma
        runs = out_t if infer.time_ensemble else out_t[None]  # (runs, N, out_channels, H, W)
        with torch.no_grad():
            den = sum(_estimate(net, out.unsqueeze(1), noisy_t.unsqueeze(1), s)[:, 0] for out in runs) / len(runs)
        yield den.clamp(0.0, 1.0)
