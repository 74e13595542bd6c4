"""Losses and the test-time posterior (STBN_SPEC.md section 6).

sRGB: the network predicts, per pixel, a mean ``mu`` (C) and the ``C(C+1)/2`` entries of an
anti-triangular factor ``A`` (rows ``[a0 a1 a2], [a3 a4 0], [a5 0 0]`` for C = 3); the prior covariance
of the clean pixel is ``A^T A``. With known Gaussian noise std ``sigma`` (on the [0, 1] scale) the noisy
pixel is distributed as ``N(mu, A^T A + (sigma^2 + 1e-5) I)``. The likelihood runs in float64 with a
Cholesky factorisation (no explicit inverse or determinant).
"""

from __future__ import annotations

import torch

EPS = 1e-5


def factor_matrix(entries: torch.Tensor, c: int) -> torch.Tensor:
    """Build the anti-triangular factor ``A``: ``(..., c(c+1)/2) -> (..., c, c)``.

    Row ``i`` holds ``c - i`` entries in columns ``0 .. c-i-1``, filled row by row.
    """
    if entries.shape[-1] != c * (c + 1) // 2:
        raise ValueError(f"factor_matrix: expected {c * (c + 1) // 2} entries, got {entries.shape[-1]}")
    a = entries.new_zeros(*entries.shape[:-1], c, c)
    k = 0
    for i in range(c):
        a[..., i, : c - i] = entries[..., k : k + c - i]
        k += c - i
    return a


def _split(out: torch.Tensor, noisy: torch.Tensor, sigma: torch.Tensor | float):
    """Per-pixel float64 views: ``mu, y (..., C, 1)``, prior covariance ``(..., C, C)``, ``var (..., 1, 1)``.

    ``out`` is ``(N, T, C + C(C+1)/2, H, W)``, ``noisy`` ``(N, T, C, H, W)``; ``sigma`` a float or a
    tensor broadcastable to ``(N, T, 1, H, W)`` (e.g. ``(N, 1, 1, 1, 1)``).
    """
    c = noisy.shape[2]
    if out.shape[2] != c + c * (c + 1) // 2 or out.shape[:2] != noisy.shape[:2] or out.shape[3:] != noisy.shape[3:]:
        raise ValueError(f"output {tuple(out.shape)} does not match a Gaussian head for noisy {tuple(noisy.shape)}")
    o = out.double().movedim(2, -1)  # N,T,H,W,C+6
    mu = o[..., :c].unsqueeze(-1)  # N,T,H,W,C,1
    a = factor_matrix(o[..., c:], c)  # N,T,H,W,C,C
    prior = a.transpose(-1, -2) @ a  # N,T,H,W,C,C
    y = noisy.double().movedim(2, -1).unsqueeze(-1)  # N,T,H,W,C,1
    s = torch.as_tensor(sigma, dtype=torch.float64, device=out.device)
    if s.dim():
        s = s.expand(*noisy.shape[:2], 1, *noisy.shape[3:]).movedim(2, -1)  # N,T,H,W,1
    var = (s**2).reshape(*s.shape, 1) if s.dim() else s**2  # N,T,H,W,1,1 or scalar
    return mu, y, prior, var, c


def gaussian_nll(out: torch.Tensor, noisy: torch.Tensor, sigma: torch.Tensor | float) -> torch.Tensor:
    """Mean over ``(N, T, H, W)`` of ``0.5 (y-mu)^T Sy^-1 (y-mu) + 0.5 log det Sy`` with
    ``Sy = A^T A + (sigma^2 + 1e-5) I``; no constant term. Returns a float64 scalar.
    """
    mu, y, prior, var, c = _split(out, noisy, sigma)
    eye = torch.eye(c, dtype=torch.float64, device=out.device)
    cov = prior + (var + EPS) * eye  # N,T,H,W,C,C
    chol = torch.linalg.cholesky(cov)  # N,T,H,W,C,C
    z = torch.linalg.solve_triangular(chol, y - mu, upper=False)  # N,T,H,W,C,1
    maha = (z**2).sum(dim=(-2, -1))  # N,T,H,W
    logdet = 2.0 * torch.log(torch.diagonal(chol, dim1=-2, dim2=-1)).sum(-1)  # N,T,H,W
    return 0.5 * (maha + logdet).mean()


def posterior_mean(out: torch.Tensor, noisy: torch.Tensor, sigma: torch.Tensor | float) -> torch.Tensor:
    """Posterior mean of the clean pixel, ``(N, T, C, H, W)`` in ``noisy``'s dtype (not clamped).

    ``x = (P + s I)^-1 (P mu + s y)`` with ``P = (A^T A + 1e-5 I)^-1`` and ``s = 1 / (sigma^2 + 1e-5)``,
    computed without inverting P as the solve ``(I + s Sx) x = mu + s Sx y``, ``Sx = A^T A + 1e-5 I``.
    """
    mu, y, prior, var, c = _split(out, noisy, sigma)
    eye = torch.eye(c, dtype=torch.float64, device=out.device)
    sx = prior + EPS * eye  # N,T,H,W,C,C
    s = 1.0 / (var + EPS)  # N,T,H,W,1,1 or scalar
    x = torch.linalg.solve(eye + s * sx, mu + s * (sx @ y))  # N,T,H,W,C,1
    return x.squeeze(-1).movedim(-1, 2).to(noisy.dtype)


def raw_l2(out: torch.Tensor, noisy: torch.Tensor) -> torch.Tensor:
    """Raw blind-spot regression loss ``sum((out - noisy)^2) / (2 N)`` for ``(N, T, C, H, W)`` tensors."""
    if out.shape != noisy.shape:
        raise ValueError(f"raw_l2: shapes differ {tuple(out.shape)} vs {tuple(noisy.shape)}")
    return ((out - noisy) ** 2).sum() / (2 * out.shape[0])
