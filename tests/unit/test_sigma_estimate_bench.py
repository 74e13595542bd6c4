"""benchmarks/sigma_estimate.py: its core measurement on a tiny synthetic clip, in seconds."""

import math

import numpy as np
import pytest
import torch

from stbn.data.noise import add_awgn_test


@pytest.fixture(scope="module")
def bench(load_benchmark):
    return load_benchmark("sigma_estimate")


def _clip(frames: int = 10, size: int = 48) -> np.ndarray:
    """Smooth colour ramps with some texture, moving a pixel per frame, kept within [0.25, 0.75] so that
    the noise is not clipped at sigma 20."""
    yy, xx = np.mgrid[:size, :size] / size
    out = []
    for t in range(frames):
        x = xx + t / size
        base = 0.5 + 0.15 * np.sin(6 * x) * np.cos(5 * yy) + 0.05 * np.sin(40 * x + 30 * yy)
        out.append(np.stack([base, 0.9 * base + 0.05, 1.1 * base - 0.05], axis=-1))
    return np.clip(np.stack(out), 0.25, 0.75).astype(np.float32)


def test_estimate_lands_near_the_true_sigma_and_costs_little(bench):
    rows = bench.measure_clip("synthetic", "test", _clip(), [20.0], [0, 1], frames=1, size=32,
                              methods={"bm3d": bench.bm3d_psnr})
    (row,) = rows
    assert row["clean_estimate"] < 1.0
    assert len(row["estimates"]) == 2 and row["estimates"][0] != row["estimates"][1]
    for estimate in (*row["estimates"], row["estimate_unclipped"]):
        assert estimate == pytest.approx(20.0, rel=0.1)
    assert row["rel_error"] == pytest.approx((row["estimate"] - 20.0) / 20.0)
    psnr = row["psnr"]["bm3d"]
    assert psnr["true"] > 30.0 and abs(psnr["cost"]) < 0.3
    (summary,) = bench.summarise(rows)
    assert summary["mean_abs_rel_error"] == pytest.approx(abs(row["rel_error"]))
    assert summary["psnr_cost"]["bm3d"]["worst_clip"] == "synthetic"


def test_noisy_file_is_the_protocols_noise_clipped_and_quantised(bench):
    clean = _clip(frames=3, size=16) - 0.2  # dark corners: some noisy values clip at 0
    noisy = bench.as_16bit_file(bench.with_noise(clean, 30.0, 0))
    reference = add_awgn_test(torch.from_numpy(clean), 30.0, channels_last=True).numpy()
    assert noisy.min() == 0.0 and (reference < 0).any()
    assert np.abs(noisy - np.clip(reference, 0, 1)).max() <= 0.5 / 65535 + 1e-7
    assert np.allclose(noisy * 65535, np.round(noisy * 65535), atol=1e-3)
    assert not np.array_equal(bench.with_noise(clean, 30.0, 1), reference)


def test_checkpoint_method_denoises_with_the_given_level(bench, tmp_path):
    from stbn.checkpoint import build_model, save_checkpoint
    from stbn.config import preset

    cfg = preset("tiny")
    path = save_checkpoint(tmp_path / "model.pt", {"step": 0, "config": cfg.model_dump(mode="json"),
                                                   "provenance": {}, "state_dict": build_model(cfg).state_dict()})
    psnr = bench.checkpoint_method(path)
    clean = bench.crops(_clip(), 3, 32)
    noisy = bench.as_16bit_file(bench.with_noise(clean, 20.0, 0))
    low, high = psnr(clean, noisy, 5.0), psnr(clean, noisy, 40.0)
    assert math.isfinite(low) and math.isfinite(high) and low != high
