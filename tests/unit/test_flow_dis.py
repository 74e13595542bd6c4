"""DIS: flow convention, accuracy on a real still with known sub-pixel shifts, the factory, zero flow."""

import numpy as np
import pytest
import torch
from skimage import data

from stbn.analysis.flow_eval import clip_epe, translated_clip
from stbn.errors import StbnError
from stbn.models.flow import DISFlow, ZeroFlow, build_flow
from stbn.ops import flow_warp

SIGMA = 30 / 255


@pytest.fixture(scope="module")
def astronaut() -> np.ndarray:
    return data.astronaut().transpose(2, 0, 1).astype(np.float64) / 255.0


def test_convention_matches_flow_warp(astronaut):
    """Frame 1 is frame 0 moved by (+3, -2) px: fwd (on frame 1, into frame 0) is (-3, +2), bwd (+3, -2),
    and warping frame 0 by fwd reproduces frame 1."""
    img = torch.from_numpy(astronaut[:, 100:260, 150:310]).float()
    frame1 = torch.zeros_like(img)
    frame1[:, :-2, 3:] = img[:, 2:, :-3]
    clip = torch.stack((img, frame1))[None]
    fwd, bwd = DISFlow()(clip)
    inner = (slice(16, -16), slice(16, -16))
    assert fwd.shape == bwd.shape == (1, 1, 2, 160, 160)
    assert abs(float(fwd[0, 0, 0][inner].median()) + 3) < 0.2 and abs(float(fwd[0, 0, 1][inner].median()) - 2) < 0.2
    assert abs(float(bwd[0, 0, 0][inner].median()) - 3) < 0.2 and abs(float(bwd[0, 0, 1][inner].median()) + 2) < 0.2
    warped = flow_warp(img[None], fwd[:, 0], "nearest")[0]
    assert (warped - frame1)[:, 16:-16, 16:-16].abs().mean() < 0.02


@pytest.mark.parametrize("dx, dy", [(0.37, -0.61), (0.25, 0.5), (2.5, -1.3), (-4.4, 1.6)])
def test_epe_below_0_6_px_on_noisy_real_image(astronaut, dx, dy):
    epe = np.mean([clip_epe(DISFlow(), translated_clip(astronaut, dx, dy, SIGMA, seed), dx, dy) for seed in (0, 1)])
    print(f"DIS default on astronaut, shift ({dx}, {dy}) px, sigma 30: mean interior EPE {epe:.3f} px")
    assert epe < 0.6


def test_output_follows_device_and_dtype_and_short_clips():
    frames = torch.rand(2, 1, 3, 32, 48, dtype=torch.float64)
    fwd, bwd = DISFlow()(frames)
    assert fwd.shape == bwd.shape == (2, 0, 2, 32, 48) and fwd.dtype == torch.float64


def test_none_returns_zeros():
    fwd, bwd = build_flow("none")(torch.rand(1, 4, 3, 16, 16))
    assert isinstance(build_flow("none"), ZeroFlow)
    assert fwd.shape == (1, 3, 2, 16, 16) and not fwd.any() and not bwd.any()


def test_factory_builds_and_rejects():
    assert isinstance(build_flow("dis", preset="medium", blur_sigma=0.0), DISFlow)
    with pytest.raises(StbnError, match="unknown flow estimator"):
        build_flow("raft")
    with pytest.raises(StbnError, match="takes no weights"):
        build_flow("dis", weights="w.pytorch")
    with pytest.raises(StbnError, match="'preset' does not apply"):
        build_flow("pwcnet", preset="fast")
    with pytest.raises(StbnError, match="unknown DIS preset"):
        build_flow("dis", preset="slow")
    with pytest.raises(StbnError, match="blur_sigma"):
        build_flow("dis", blur_sigma=-1)
