"""PSNR/SSIM against scikit-image with the paper's settings, raw re-quantisation, aggregation order."""

import numpy as np
import pytest
from skimage import data
from skimage.metrics import peak_signal_noise_ratio, structural_similarity

from stbn.evaluation.metrics import frame_metrics, hierarchical_mean, psnr, requantize_raw, ssim, summarise


def _pairs():
    rng = np.random.default_rng(0)
    rand = rng.random((37, 53, 3))
    real = data.astronaut()[100:260, 150:330] / 255.0
    for clean in (rand, real, rand.astype(np.float32)):
        noisy = clean + rng.normal(0, 0.1, clean.shape)
        yield clean, np.clip(noisy, 0, 1).astype(clean.dtype)


@pytest.mark.parametrize("idx", range(3))
def test_srgb_metrics_match_skimage(idx):
    clean, den = list(_pairs())[idx]
    p, s = frame_metrics(clean, den, "srgb")
    ref_p = peak_signal_noise_ratio(np.clip(clean, 0, 1), den, data_range=1)
    ref_s = structural_similarity(
        np.clip(clean, 0, 1), den, channel_axis=2, win_size=11, gaussian_weights=True, sigma=1.5, data_range=1
    )
    assert abs(p - ref_p) < 1e-6
    assert abs(s - ref_s) < 1e-6


def test_srgb_psnr_clips_only_the_reference():
    clean = np.full((16, 16, 3), 1.2)
    den = np.full((16, 16, 3), 0.9)
    assert psnr(np.clip(clean, 0, 1), den) == pytest.approx(frame_metrics(clean, den)[0])
    assert frame_metrics(clean, den)[0] == pytest.approx(20.0)  # MSE 0.01 against the clipped 1.0


def test_raw_metrics_match_skimage_after_requantisation():
    rng = np.random.default_rng(1)
    clean = requantize_raw(rng.random((24, 30, 4)))
    den = clean + rng.normal(0, 0.02, clean.shape)
    q = requantize_raw(den)
    p, s = frame_metrics(clean, den, "raw")
    ref_s = np.mean([structural_similarity(clean[..., c], q[..., c], data_range=1.0) for c in range(4)])
    assert abs(p - peak_signal_noise_ratio(clean, q, data_range=1)) < 1e-6
    assert abs(s - ref_s) < 1e-6


def test_requantize_raw_levels():
    x = np.array([-0.5, 0.0, 0.5, 1.0, 2.0, 100.4 / 3855])
    expected = np.array([0, 0, int(0.5 * 3855 + 240) - 240, 3855, 3855, 100]) / 3855
    np.testing.assert_array_equal(requantize_raw(x), expected)


def test_ssim_identical_is_one_and_window_too_large_is_an_error():
    a = np.random.default_rng(2).random((20, 20, 3))
    assert ssim(a, a) == pytest.approx(1.0)
    with pytest.raises(ValueError, match="smaller than"):
        ssim(a[:8, :8], a[:8, :8])


def test_aggregation_is_frames_then_sequences_then_isos():
    rows = [{"iso": 1600, "sequence": "a", "frame": i, "psnr": 30.0, "ssim": 0.9} for i in range(3)]
    rows += [{"iso": 1600, "sequence": "b", "frame": 0, "psnr": 40.0, "ssim": 0.5}]
    rows += [{"iso": 3200, "sequence": "a", "frame": i, "psnr": 20.0 + i, "ssim": 0.1} for i in range(2)]
    # pooled over frames the mean would be (90 + 40 + 41) / 6 = 28.5; frame -> sequence -> ISO gives:
    assert hierarchical_mean(rows, ("iso", "sequence"), "psnr") == pytest.approx((35.0 + 20.5) / 2)
    assert hierarchical_mean(rows[:4], ("sequence",), "psnr") == pytest.approx(35.0)
    summary = summarise(rows[:4])
    assert summary["psnr"] == pytest.approx(35.0) and summary["frames"] == 4
    assert summary["sequences"]["a"] == {"psnr": 30.0, "ssim": pytest.approx(0.9), "frames": 3}
