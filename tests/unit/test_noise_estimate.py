"""Noise-level estimation on synthetic noise over real and synthetic content."""

import numpy as np
import pytest
from skimage import data

from stbn.data.noise_estimate import estimate_sigma


@pytest.mark.parametrize("sigma", [5, 15, 30, 50])
@pytest.mark.parametrize("image", ["astronaut", "coffee"])
def test_estimate_on_real_frames(image, sigma):
    rng = np.random.default_rng(sigma)
    clean = getattr(data, image)()[:300, :300] / 255.0
    frames = np.stack([clean + rng.normal(0, sigma / 255, clean.shape) for _ in range(3)])
    assert estimate_sigma(frames) * 255 == pytest.approx(sigma, rel=0.1, abs=1.5)


def test_estimate_on_smooth_ramp_and_scale():
    rng = np.random.default_rng(0)
    yy, xx = np.mgrid[:64, :80] / 80.0
    clean = np.stack([yy, xx, 0.5 * (yy + xx)], axis=-1)
    assert estimate_sigma(clean) < 1e-6  # linear content is cancelled exactly
    noisy = clean + rng.normal(0, 0.1, clean.shape)
    assert estimate_sigma(noisy) == pytest.approx(0.1, rel=0.08)
    assert estimate_sigma(noisy * 255) == pytest.approx(255 * estimate_sigma(noisy))


def test_bad_shape():
    with pytest.raises(ValueError, match="at least 8x8"):
        estimate_sigma(np.zeros((4, 4, 3)))
