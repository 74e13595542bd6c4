"""The CPU fitting preset, the --fit-minutes budget arithmetic, and flows precomputed once for fitting."""

from unittest import mock

import numpy as np
import pytest
import torch

from stbn.config import InferConfig, preset
from stbn.data.clips import TrainingClips
from stbn.errors import StbnError
from stbn.models.registry import build_model
from stbn.training.budget import ENSEMBLE_FRACTION, MARGIN_FRACTION, MARGIN_SECONDS, budget_ensemble, fitting_minutes
from stbn.training.trainer import lr_scale


def test_cpu_fit_preset_validates_and_ends_with_a_decayed_rate():
    cfg = preset("cpu-fit")
    assert cfg.flow.estimator == "dis" and cfg.data.kind == "srgb" and not cfg.flow.distill.enabled
    assert cfg.model.srfe_features < 4 * cfg.model.num_channels and cfg.model.srfe_blocks < 8
    fractions = [m / cfg.train.iterations for m in cfg.train.milestones]
    assert lr_scale(0.99, fractions, cfg.train.gamma) <= 1 / 16


def test_fitting_minutes_subtracts_what_was_spent_and_what_is_reserved():
    left = 120.0 * (1 - MARGIN_FRACTION) - 30.0 - MARGIN_SECONDS
    assert fitting_minutes(2.0, 10.0, 20.0) == pytest.approx(left / 60.0)
    with pytest.raises(StbnError, match="--fit-minutes 0.1: reading and denoising"):
        fitting_minutes(0.1, 5.0, 5.0)


@pytest.mark.parametrize(("minutes", "k"), [(30, 4), (20, 2), (10, 2), (5, 1)])
def test_the_shift_ensemble_halves_until_it_fits_its_share_of_the_budget(minutes, k):
    window = 5.0  # seconds per window: 4x4 windows take 80 s, 2x2 20 s
    infer = preset("cpu-fit").infer
    chosen, reserve = budget_ensemble(infer, window, minutes)
    assert chosen.shift_ensemble == k and reserve == k * k * window
    assert k == 1 or reserve <= ENSEMBLE_FRACTION * minutes * 60
    assert chosen.model_copy(update={"shift_ensemble": infer.shift_ensemble}) == infer


def test_clips_carry_the_crops_of_precomputed_flows():
    noisy = np.random.default_rng(0).random((7, 20, 24, 3), dtype=np.float32)
    fwd, bwd = torch.randn(6, 2, 20, 24), torch.randn(6, 2, 20, 24)
    clips = TrainingClips("srgb", 4, 1, 8, 3, seed=1, noisy=[noisy], flows=[(fwd, bwd)])
    batch = clips.batch(5)
    for i, (_, start, top, left) in enumerate(clips.sampler.specs(5)):
        crop = (slice(start, start + 3), slice(None), slice(top, top + 8), slice(left, left + 8))
        assert torch.equal(batch.flows[0][i], fwd[crop]) and torch.equal(batch.flows[1][i], bwd[crop])
    assert TrainingClips("srgb", 4, 1, 8, 3, seed=1, noisy=[noisy]).batch(5).flows is None


@pytest.mark.parametrize(
    ("window", "stride", "scale"), [(0, 0, 20 / 2), (6, 0, 36 / 2), (6, 1, 90 / 2), (1, 0, 20 / 2)]
)
def test_the_final_pass_estimate_scales_to_the_frames_of_the_time_windows(window, stride, scale):
    """The timed sample pass over the first 2 frames (1 s on a fake clock) is scaled to the clip's 20 frames
    as its time windows cover them: 6-frame spans every 3 frames cover 36, every frame 90."""
    from stbn.training import budget

    cfg = preset("tiny").model_copy(
        update={"infer": InferConfig(streaming=False, time_window=window, window_stride=stride)}
    )
    net = build_model(cfg)
    clock = mock.Mock(monotonic=mock.Mock(side_effect=[0.0, 10.0, 11.0]))
    with mock.patch.object(budget, "time", clock):
        seconds = budget.inference_seconds(net, torch.rand(20, 3, 8, 8), 0.1, cfg)
    assert seconds == pytest.approx(budget.SAFETY * scale)
