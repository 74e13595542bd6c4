"""Classical baselines: same frames in, clamped estimates and per-frame times out, better than the input."""

from __future__ import annotations

import numpy as np
import pytest
from skimage import data
from skimage.metrics import peak_signal_noise_ratio

from stbn.baselines import METHODS, denoise_sequence
from stbn.errors import StbnError

SIGMA = 30.0


@pytest.fixture(scope="module")
def clip() -> tuple[np.ndarray, np.ndarray]:
    """A 3-frame real-image clip (a still panned by one pixel per frame) and its noisy version."""
    still = data.astronaut()[::4, ::4][40:88, 40:88].astype(np.float32) / 255.0
    clean = np.stack([np.roll(still, t, axis=1) for t in range(3)])
    noisy = clean + np.random.default_rng(0).normal(0.0, SIGMA / 255.0, clean.shape).astype(np.float32)
    return clean, noisy


@pytest.fixture(scope="module")
def outputs(clip: tuple[np.ndarray, np.ndarray]) -> dict[str, list[tuple[np.ndarray, float]]]:
    return {m: list(denoise_sequence(clip[1], SIGMA, m)) for m in METHODS}


def psnr(clean: np.ndarray, frames: list[tuple[np.ndarray, float]]) -> float:
    return float(np.mean([peak_signal_noise_ratio(c, f, data_range=1.0) for c, (f, _) in zip(clean, frames)]))


@pytest.mark.parametrize("method", METHODS)
def test_one_clamped_frame_and_time_per_input_frame(method: str, clip, outputs) -> None:
    frames = outputs[method]
    assert len(frames) == clip[1].shape[0]
    for frame, seconds in frames:
        assert frame.shape == clip[1].shape[1:] and frame.dtype == np.float32
        assert frame.min() >= 0.0 and frame.max() <= 1.0
        assert seconds >= 0.0


def test_noisy_is_the_clamped_input(clip, outputs) -> None:
    np.testing.assert_array_equal(np.stack([f for f, _ in outputs["noisy"]]), np.clip(clip[1], 0, 1))


@pytest.mark.parametrize("method", [m for m in METHODS if m != "noisy"])
def test_denoisers_beat_the_noisy_input(method: str, clip, outputs) -> None:
    gain = psnr(clip[0], outputs[method]) - psnr(clip[0], outputs["noisy"])
    assert gain > 1.5, f"{method} gains only {gain:.2f} dB at sigma {SIGMA}"


def test_bad_input_is_a_one_line_user_error(clip) -> None:
    with pytest.raises(StbnError, match="unknown baseline method"):
        next(denoise_sequence(clip[1], SIGMA, "wiener"))
    with pytest.raises(StbnError, match="RGB sequence"):
        next(denoise_sequence(clip[1][..., 0], SIGMA, "bm3d"))
    with pytest.raises(StbnError, match="sigma must be positive"):
        next(denoise_sequence(clip[1], 0.0, "bm3d"))
