"""benchmarks/fit_diagnose.py's pure helpers: the clipped-noise mean and the per-band errors."""

import math

import numpy as np
import pytest


@pytest.fixture(scope="module")
def diag(load_benchmark):
    return load_benchmark("fit_diagnose")


def test_clipped_mean_matches_clipped_noise(diag):
    sigma = 30 / 255
    x = np.array([0.0, 0.02, 0.5, 0.97, 1.0])
    noise = np.random.default_rng(0).normal(0.0, sigma, (400_000, 1))
    sampled = np.clip(x + noise, 0.0, 1.0).mean(0)
    np.testing.assert_allclose(diag.clipped_mean(x, sigma), sampled, atol=1e-3)
    assert diag.clipped_mean(np.array([0.0]), sigma)[0] == pytest.approx(sigma / math.sqrt(2 * math.pi))
    assert diag.clipped_mean(np.array([0.5]), sigma)[0] == pytest.approx(0.5, abs=1e-6)


def test_bands_give_share_bias_and_rmse_per_band(diag):
    clean = np.array([0.05, 0.05, 0.55, 1.0])
    est = clean + np.array([0.1, -0.1, 0.2, -0.3])
    rows = {round(lo, 1): rest for lo, *rest in diag.bands(clean, est)}
    assert set(rows) == {0.0, 0.5, 0.9}
    share, bias, rmse = rows[0.0]
    assert (share, bias, rmse) == pytest.approx((0.5, 0.0, 0.1))
    assert rows[0.9] == pytest.approx((0.25, -0.3, 0.3))
