"""Warping statistics of pure noise (acceptance 4): nearest keeps white noise white under a shift,
bilinear smooths it, and a magnifying zoom makes nearest warping correlate neighbours."""

import pytest
import torch

from stbn.analysis.warp_stats import (
    constant_flow,
    nearest_duplicate_fraction,
    neighbour_correlation,
    warp_noise_stats,
    zoom_flow,
)

N = 256


def test_nearest_shift_keeps_variance_and_whiteness():
    s = warp_noise_stats(constant_flow(N, N, 0.37, -0.61), "nearest")
    print(f"nearest, shift (0.37, -0.61): {s}")
    assert abs(s.variance_ratio - 1) < 0.02
    assert abs(s.corr_x) < 0.02 and abs(s.corr_y) < 0.02


def test_bilinear_shift_lowers_variance_and_correlates():
    s = warp_noise_stats(constant_flow(N, N, 0.37, -0.61), "bilinear")
    print(f"bilinear, shift (0.37, -0.61): {s}")
    theory = (0.63**2 + 0.37**2) * (0.61**2 + 0.39**2)
    assert s.variance_ratio == pytest.approx(theory, abs=0.015)
    assert s.corr_x > 0.3 and s.corr_y > 0.3


def test_magnifying_zoom_correlates_nearest_warped_noise():
    zoom = zoom_flow(N, N, 1.1)
    s = warp_noise_stats(zoom, "nearest")
    dup = nearest_duplicate_fraction(zoom)
    print(f"nearest, zoom x1.1: {s}, duplicated sources {dup:.3f}")
    assert dup == pytest.approx(1 - 1 / 1.1, abs=0.01)
    assert s.corr_x > 0.05 and s.corr_y > 0.05
    assert nearest_duplicate_fraction(zoom_flow(N, N, 0.9)) == 0.0


def test_zoom_flow_geometry_and_correlation_reference():
    z = zoom_flow(5, 7, 2.0)
    assert z[:, 2, 3].abs().max() == 0  # the centre stays put
    assert z[0, 0, 0] == pytest.approx(1.5) and z[1, 0, 0] == pytest.approx(1.0)  # halfway to the centre
    x = torch.tensor([[1.0, 2.0, 3.0, 4.0], [2.0, 4.0, 6.0, 8.0]])
    cx, _ = neighbour_correlation(x, torch.ones_like(x, dtype=torch.bool))
    assert cx == pytest.approx(float(torch.corrcoef(torch.stack((x[:, :-1].flatten(), x[:, 1:].flatten())))[0, 1]))
