"""Whole-clip inference: noisy clip in, clamped clean estimate out.

This is the one entry point for denoising a clip (evaluation, validation and ``stbn denoise``); a
memory-bounded streaming path can live behind the same function.
"""

from __future__ import annotations

import torch

from stbn.losses import posterior_mean
from stbn.models import STBN


def denoise_clip(
    net: STBN,
    noisy: torch.Tensor,
    sigma: float | torch.Tensor | None = None,
    flows: tuple[torch.Tensor, torch.Tensor] | None = None,
) -> torch.Tensor:
    """Denoise ``(T, C, H, W)`` or ``(N, T, C, H, W)`` frames; returns the same shape, clamped to [0, 1].

    ``sigma`` is the noise std on the [0, 1] scale (float or a tensor broadcastable to
    ``(N, T, 1, H, W)``); Gaussian-head models need it (noise map and posterior mean), direct-head
    models ignore it. The result is the posterior mean (Gaussian head) or the direct output. The
    model runs in eval mode without gradients on its own device; the result is on ``noisy``'s device.
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
    try:
        with torch.no_grad():
            out = net(x, noise_map=s if net.uses_noise_map else None, flows=flows)
            den = posterior_mean(out, x, s) if net.head_kind == "gaussian" else out
    finally:
        net.train(was_training)
    den = den.clamp(0.0, 1.0).to(noisy.device)
    return den[0] if single else den
