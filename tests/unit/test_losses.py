"""Gaussian NLL, posterior mean and raw L2 against float64 references."""

from __future__ import annotations

import math

import torch

from stbn.models.losses import EPS, factor_matrix, gaussian_nll, posterior_mean, raw_l2


def random_output(n=2, t=2, h=3, w=4, seed=0):
    g = torch.Generator().manual_seed(seed)
    out = torch.randn(n, t, 9, h, w, generator=g, dtype=torch.float64) * 0.3
    noisy = torch.rand(n, t, 3, h, w, generator=g, dtype=torch.float64)
    return out, noisy


def test_factor_layout_is_anti_triangular():
    a = factor_matrix(torch.arange(1.0, 7.0), 3)
    assert a.tolist() == [[1, 2, 3], [4, 5, 0], [6, 0, 0]]


def test_nll_equals_multivariate_normal_log_prob():
    out, noisy = random_output()
    sigma = torch.tensor([0.05, 0.2], dtype=torch.float64).view(2, 1, 1, 1, 1)
    mu = out[:, :, :3].movedim(2, -1)
    a = factor_matrix(out[:, :, 3:].movedim(2, -1), 3)
    var = (sigma.view(2, 1, 1, 1) ** 2 + EPS)[..., None, None]
    cov = a.transpose(-1, -2) @ a + var * torch.eye(3, dtype=torch.float64)
    lp = torch.distributions.MultivariateNormal(mu, covariance_matrix=cov).log_prob(noisy.movedim(2, -1))
    reference = (-lp - 1.5 * math.log(2 * math.pi)).mean()  # our NLL drops the constant
    assert abs(gaussian_nll(out, noisy, sigma).item() - reference.item()) < 1e-6
    assert abs(gaussian_nll(out.float(), noisy.float(), 0.05).item() - gaussian_nll(out, noisy, 0.05).item()) < 1e-4


def test_posterior_mean_equals_closed_form():
    out, noisy = random_output(seed=1)
    sigma = 0.1
    mu = out[:, :, :3].movedim(2, -1).unsqueeze(-1)
    a = factor_matrix(out[:, :, 3:].movedim(2, -1), 3)
    eye = torch.eye(3, dtype=torch.float64)
    p = torch.inverse(a.transpose(-1, -2) @ a + EPS * eye)
    s = 1.0 / (sigma**2 + EPS)
    y = noisy.movedim(2, -1).unsqueeze(-1)
    ref = (torch.inverse(p + s * eye) @ (p @ mu + s * y)).squeeze(-1).movedim(-1, 2)
    assert (posterior_mean(out, noisy, sigma) - ref).abs().max() < 1e-6


def test_posterior_mean_limits():
    """Huge prior variance -> the noisy input; tiny prior variance -> the predicted mean."""
    out, noisy = random_output(seed=2)
    wide = out.clone()
    wide[:, :, 3:] = 0
    wide[:, :, 5] = wide[:, :, 7] = wide[:, :, 8] = 1e4  # a2, a4, a5: the anti-diagonal, full rank
    assert (posterior_mean(wide, noisy, 0.01) - noisy).abs().max() < 1e-4
    narrow = out.clone()
    narrow[:, :, 3:] = 0
    assert (posterior_mean(narrow, noisy, 0.5) - out[:, :, :3]).abs().max() < 1e-3


def test_nll_gradients_are_finite_for_degenerate_factors():
    out, noisy = random_output(seed=3)
    out[:, :, 3:] = 0  # prior covariance 0: the noise term keeps Sy positive definite
    out.requires_grad_(True)
    gaussian_nll(out, noisy, 0.1).backward()
    assert torch.isfinite(out.grad).all()


def test_raw_l2_is_sum_over_two_n():
    out = torch.ones(2, 3, 4, 5, 6)
    noisy = torch.zeros_like(out)
    assert raw_l2(out, noisy).item() == out.numel() / 4
