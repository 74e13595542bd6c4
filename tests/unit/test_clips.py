"""Training clip sampling: clip starts, shared crops, determinism per step, noise, fixed-noisy mode."""

import numpy as np
import pytest
import torch

from stbn.config import DataConfig
from stbn.data.clips import ClipSampler, TrainingClips, clip_starts, fixed_noisy
from stbn.data.noise import add_awgn_test
from stbn.errors import StbnError


def _coded(t=12, h=20, w=24, c=3, offset=0.0):
    """Frames whose values encode (frame, row, col): value = offset + t*1e4 + y*100 + x."""
    tt, yy, xx = np.meshgrid(np.arange(t), np.arange(h), np.arange(w), indexing="ij")
    v = (offset + tt * 1e4 + yy * 100 + xx).astype(np.float64)
    return np.repeat(v[..., None], c, axis=3)


def test_clip_starts_follow_the_stride():
    assert clip_starts(10, 8, 3) == [0]  # FloRNN: (n - T + stride) // stride clips
    assert clip_starts(11, 8, 3) == [0, 3]
    assert clip_starts(85, 8, 3) == list(range(0, 78, 3)) and len(clip_starts(85, 8, 3)) == (85 - 8 + 3) // 3
    assert clip_starts(5, 8, 3) == []


def test_crop_is_shared_by_the_frames_and_frames_are_consecutive():
    seqs = [_coded(), _coded(t=9, offset=1e6)]
    clips = TrainingClips("srgb", 4, 2, 8, 5, seed=3, clean=seqs)
    for step in range(4):
        b = clips.batch(step)
        assert b.clean.shape == (5, 4, 3, 8, 8) and b.noisy.shape == b.clean.shape
        v = b.clean[:, :, 0].double().numpy() % 1e6
        rows, cols = (v % 1e4) // 100, v % 100
        assert (np.diff(v[:, :, 0, 0] // 1e4, axis=1) == 1).all()  # consecutive frames
        assert (rows == rows[:, :1]).all() and (cols == cols[:, :1]).all()  # same crop in every frame
        assert (np.diff(cols, axis=-1) == 1).all() and (np.diff(rows, axis=-2) == 1).all()


def test_batches_depend_only_on_seed_and_step():
    seqs = [np.random.default_rng(0).random((10, 16, 16, 3), dtype=np.float32)]
    a = TrainingClips("srgb", 3, 1, 8, 2, seed=1, clean=seqs, sigma_range_255=(5, 55))
    b = TrainingClips("srgb", 3, 1, 8, 2, seed=1, clean=seqs, sigma_range_255=(5, 55))
    for step in (7, 0, 3):  # any order: no hidden state
        x, y = a.batch(step), b.batch(step)
        assert torch.equal(x.noisy, y.noisy) and torch.equal(x.sigma, y.sigma)
    assert not torch.equal(a.batch(1).noisy, a.batch(2).noisy)
    assert not torch.equal(a.batch(1).noisy, TrainingClips("srgb", 3, 1, 8, 2, seed=2, clean=seqs).batch(1).noisy)


def test_every_clip_once_per_epoch():
    shapes = [(10, 16, 16, 3), (7, 16, 16, 3)]
    s = ClipSampler(shapes, 4, 2, 8, 3, seed=0)
    n = len(s.clips)
    seen = [spec[:2] for step in range(n) for spec in s.specs(step)]
    for e in range(3):
        assert sorted(seen[e * n : (e + 1) * n]) == sorted(s.clips)


def test_noise_level_and_range():
    clean = [np.full((6, 32, 32, 3), 0.5, np.float32)]
    b = TrainingClips("srgb", 4, 1, 32, 16, seed=0, clean=clean, sigma_range_255=(5, 55)).batch(0)
    assert ((b.sigma >= 5 / 255) & (b.sigma <= 55 / 255)).all() and b.sigma.std() > 0
    resid = (b.noisy - b.clean).flatten(1).std(1)
    np.testing.assert_allclose(resid, b.sigma.flatten(), rtol=0.05)


def test_raw_noise_grows_with_iso():
    clean = [np.full((7, 20, 20, 4), 0.3, np.float32)]
    batches = [TrainingClips("raw", 7, 1, 16, 2, seed=0, clean=clean, isos=[iso]).batch(0) for iso in (1600, 25600)]
    stds = [(b.noisy - 0.3).std() for b in batches]
    assert 0 < stds[0] < stds[1]


def test_fixed_noisy_trains_on_the_test_noise():
    clean = np.random.default_rng(0).random((6, 16, 16, 3), dtype=np.float32)
    cfg = DataConfig(clip_length=6, crop=16, batch_size=1, fixed_noisy=True, sigma=25)
    b = TrainingClips.from_config(cfg, [clean], seed=0).batch(5)
    expected = add_awgn_test(torch.from_numpy(clean), 25.0, channels_last=True).permute(0, 3, 1, 2)
    assert torch.equal(b.noisy[0], expected) and torch.allclose(b.sigma, torch.tensor(25 / 255))
    raw = fixed_noisy(np.full((2, 8, 8, 4), 0.3, np.float32), "raw", 0, 1600)
    assert np.array_equal(raw, fixed_noisy(np.full((2, 8, 8, 4), 0.3, np.float32), "raw", 0, 1600))


def test_clear_errors():
    with pytest.raises(StbnError, match="no training clip of 8 frames"):
        TrainingClips("srgb", 8, 1, 8, 1, seed=0, clean=[np.zeros((5, 16, 16, 3), np.float32)])
    with pytest.raises(StbnError, match="smaller than the 32-pixel crop"):
        TrainingClips("srgb", 2, 1, 32, 1, seed=0, clean=[np.zeros((5, 16, 16, 3), np.float32)])
    with pytest.raises(StbnError, match=r"expected \(T, H, W, 4\) for raw"):
        TrainingClips("raw", 2, 1, 8, 1, seed=0, clean=[np.zeros((5, 16, 16, 3), np.float32)])


def _panned(t=5, size=24, dx=2, dy=-1, seed=0):
    """A random texture panned by (dx, dy) pixels per frame ``(T, size, size, 3)`` and its exact flows:
    ``x_t(q) = x_{t-1}(q + fwd)`` with ``fwd = (-dx, -dy)``, and ``bwd = (dx, dy)``, each ``(T-1, 2, s, s)``."""
    big = np.random.default_rng(seed).random((size + 2 * t * 4, size + 2 * t * 4, 3), dtype=np.float32)
    c = t * 4
    frames = np.stack([big[c - i * dy : c - i * dy + size, c - i * dx : c - i * dx + size] for i in range(t)])
    fwd = torch.tensor([-dx, -dy], dtype=torch.float32).reshape(1, 2, 1, 1).expand(t - 1, 2, size, size)
    return frames, (fwd.clone(), -fwd.clone())


@pytest.mark.parametrize("dx,dy", [(2, -1), (0, 3)])
def test_augmented_flows_still_align_the_augmented_frames(dx, dy):
    from stbn.data.clips import augment
    from stbn.ops.warp import flow_warp

    frames, (fwd, bwd) = _panned(dx=dx, dy=dy)
    clip = torch.from_numpy(frames).permute(0, 3, 1, 2)[None].repeat(16, 1, 1, 1, 1)
    x, (f, b) = augment(clip, (fwd[None].repeat(16, 1, 1, 1, 1), bwd[None].repeat(16, 1, 1, 1, 1)), torch.arange(16))
    inner = (slice(None), slice(None), slice(4, -4), slice(4, -4))  # away from the zero-padded border
    seen = set()
    for code in range(16):
        xs, fs, bs = x[code], f[code], b[code]
        torch.testing.assert_close(flow_warp(xs[:-1], fs)[inner], xs[1:][inner], rtol=0, atol=0)
        torch.testing.assert_close(flow_warp(xs[1:], bs)[inner], xs[:-1][inner], rtol=0, atol=0)
        seen.add(xs.numpy().tobytes())
    assert len(seen) == 16  # every code is a different clip


def test_augmented_batches_are_deterministic_and_off_changes_nothing():
    frames, flows = _panned(t=6, size=20)
    kwargs = dict(kind="srgb", clip_length=4, stride=1, crop=12, batch_size=3, seed=5, noisy=[frames],
                  sigma_range_255=(30.0, 30.0), flows=[flows])
    plain, aug, again = (TrainingClips(**kwargs), TrainingClips(**kwargs, augment=True),
                         TrainingClips(**kwargs, augment=True))
    changed = False
    for step in range(6):
        p, a, a2 = plain.batch(step), aug.batch(step), again.batch(step)
        torch.testing.assert_close(a.noisy, a2.noisy, rtol=0, atol=0)
        torch.testing.assert_close(a.flows[0], a2.flows[0], rtol=0, atol=0)
        torch.testing.assert_close(p.noisy.sum((1, 2, 3, 4)), a.noisy.sum((1, 2, 3, 4)))  # same clips, moved
        changed |= not torch.equal(p.noisy, a.noisy)
    assert changed


def test_augment_is_refused_for_raw():
    with pytest.raises(ValueError, match="data.augment is for sRGB"):
        DataConfig(kind="raw", augment=True)
