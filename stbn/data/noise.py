"""Noise models: additive white Gaussian noise (sRGB) and CRVD's Poisson-Gaussian raw noise per ISO.

sRGB values are on the [0, 1] scale; ``sigma`` is a std on that scale, ``sigma_255`` on the 0..255 scale
(:func:`stbn.config.unit_sigma` converts).
Raw values are digital numbers (DN) with black level 240 and white level 4095.
"""

from __future__ import annotations

import math

import torch

from stbn.config import unit_sigma
from stbn.data.raw import BLACK_LEVEL, WHITE_LEVEL
from stbn.errors import StbnError

# CRVD calibration (RViDeNet): ISO -> (a: shot-noise gain, b: read-noise variance), both in DN.
RAW_NOISE_PARAMS: dict[int, tuple[float, float]] = {
    1600: (3.513262, 11.917691),
    3200: (6.955588, 38.117816),
    6400: (13.486051, 130.818508),
    12800: (26.585953, 484.539790),
    25600: (52.032536, 1819.818657),
}


def awgn(clean: torch.Tensor, sigma: float | torch.Tensor, generator: torch.Generator | None = None) -> torch.Tensor:
    """``clean + sigma * N(0, 1)``, unclipped, i.i.d. over every element (any layout).

    ``sigma`` is a float or a tensor broadcastable to ``clean`` (e.g. ``(N, 1, 1, 1, 1)`` for one level
    per clip). The noise is drawn on the generator's device (``clean``'s device without a generator).
    """
    device = generator.device if generator is not None else clean.device
    noise = torch.randn(clean.shape, generator=generator, device=device, dtype=clean.dtype).to(clean.device)
    return clean + noise * sigma


def _is_channels_last(shape: torch.Size) -> bool:
    return shape[-1] in (1, 3, 4) and shape[1] not in (1, 3, 4)


def add_awgn_test(clean: torch.Tensor, sigma_255: float, channels_last: bool | None = None) -> torch.Tensor:
    """The paper's fixed test noise for one sequence: ``clean + N(0, (sigma_255/255)^2)``, unclipped.

    Equivalent to ``torch.manual_seed(0)`` then ``normal_(0, sigma_255/255)`` on a CPU float32 tensor of
    the sequence's ``(T, C, H, W)`` shape (FloRNN/STBN test scripts), without touching the global RNG.
    ``clean`` is ``(T, C, H, W)`` or ``(T, H, W, C)`` (detected from where C in {1, 3, 4} sits, or set by
    ``channels_last``); the result has ``clean``'s layout, dtype and device.
    """
    if clean.dim() != 4:
        raise StbnError(f"add_awgn_test expects one sequence (T, C, H, W) or (T, H, W, C); got {tuple(clean.shape)}")
    last = _is_channels_last(clean.shape) if channels_last is None else channels_last
    shape = (clean.shape[0], clean.shape[3], clean.shape[1], clean.shape[2]) if last else tuple(clean.shape)
    gen = torch.Generator().manual_seed(0)
    noise = torch.empty(shape, dtype=torch.float32).normal_(0.0, unit_sigma(sigma_255), generator=gen)
    if last:
        noise = noise.permute(0, 2, 3, 1)
    return clean + noise.to(device=clean.device, dtype=clean.dtype)


def raw_noise_params(iso: int) -> tuple[float, float]:
    """``(a, b)`` of the CRVD noise model at ``iso``; a clear error for an uncalibrated ISO."""
    if iso not in RAW_NOISE_PARAMS:
        raise StbnError(f"no raw noise calibration for ISO {iso} (known: {', '.join(map(str, RAW_NOISE_PARAMS))})")
    return RAW_NOISE_PARAMS[iso]


def raw_noise_variance(level_dn: float, iso: int) -> float:
    """Predicted noise variance in DN^2 at clean level ``level_dn``: ``a * (level - 240) + b``."""
    a, b = raw_noise_params(iso)
    return a * (level_dn - BLACK_LEVEL) + b


def add_raw_noise(clean_dn: torch.Tensor, iso: int, generator: torch.Generator | None = None) -> torch.Tensor:
    """CRVD Poisson-Gaussian noise in DN: ``Poisson((x - 240)/a) * a + N(0, b) + 240``, clipped to [0, 4095].

    ``clean_dn`` is any-shaped, in DN (e.g. a uint16 mosaic as float); returns float32, not rounded.
    Random numbers come from ``generator`` (on its device) or the global RNG.
    """
    a, b = raw_noise_params(iso)
    device = generator.device if generator is not None else clean_dn.device
    signal = torch.clamp(clean_dn.to(device=device, dtype=torch.float32) - BLACK_LEVEL, min=0) / a
    shot = torch.poisson(signal, generator=generator) * a
    read = torch.randn(signal.shape, generator=generator, device=device) * math.sqrt(b)
    return torch.clamp(shot + read + BLACK_LEVEL, 0, WHITE_LEVEL).to(clean_dn.device)


def raw_noise_table(level_dn: float = 1240.0, samples: int = 1_000_000, seed: int = 0) -> list[dict[str, float]]:
    """Measured vs predicted noise variance at a flat clean level, one row per ISO."""
    rows = []
    for iso in RAW_NOISE_PARAMS:
        gen = torch.Generator().manual_seed(seed)
        noisy = add_raw_noise(torch.full((samples,), float(level_dn)), iso, generator=gen).double()
        measured = noisy.var().item()
        predicted = raw_noise_variance(level_dn, iso)
        rows.append({"iso": iso, "measured": measured, "predicted": predicted, "rel_error": measured / predicted - 1})
    return rows
