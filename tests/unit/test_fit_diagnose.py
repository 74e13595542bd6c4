"""benchmarks/fit_diagnose.py's helpers: the clipped-noise mean, the per-band errors and the engine's pass."""

import math

import numpy as np
import pytest
import torch

from stbn import STBN


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


def tiny(neighbour_frames: bool) -> STBN:
    torch.manual_seed(0)
    return STBN(3, num_channels=8, num_resblocks=1, srfe_blocks=1, srfe_groups=1,
                neighbour_frames=neighbour_frames).eval()


def test_pass_is_the_networks_posterior_and_time_windows_change_it(diag):
    from stbn.models.losses import posterior_mean

    net = tiny(True)
    noisy = np.random.default_rng(0).random((5, 12, 12, 3))
    x = torch.from_numpy(noisy.astype(np.float32)).permute(0, 3, 1, 2)[None]
    with torch.no_grad():
        whole = posterior_mean(net(x, noise_map=0.1), x, 0.1).clamp(0, 1)[0].permute(0, 2, 3, 1).numpy()
    np.testing.assert_allclose(diag.whole_pass(net, noisy, 0.1), whole, atol=1e-6)
    np.testing.assert_allclose(diag.whole_pass(net, noisy, 0.1, 5, 1), whole, atol=1e-6)
    short = diag.whole_pass(net, noisy, 0.1, 3, 1)
    assert short.shape == noisy.shape and np.abs(short - whole).max() > 1e-4
