"""AWGN (the paper's fixed test protocol and on-the-fly training noise) and CRVD raw noise."""

from __future__ import annotations

import pytest
import torch

from stbn.data import noise
from stbn.errors import StbnError


def _paper_reference(clean_tchw: torch.Tensor, sigma_255: float) -> torch.Tensor:
    """What the FloRNN/STBN test scripts do, literally."""
    state = torch.get_rng_state()
    torch.manual_seed(0)
    ref = clean_tchw + torch.FloatTensor(clean_tchw.size()).normal_(mean=0, std=sigma_255 / 255.0)
    torch.set_rng_state(state)
    return ref


def test_awgn_test_matches_the_paper_protocol_bit_exactly():
    clean = torch.rand(4, 3, 9, 11)
    noisy = noise.add_awgn_test(clean, 30)
    assert torch.equal(noisy, _paper_reference(clean, 30))
    assert torch.equal(noise.add_awgn_test(clean, 30), noisy)  # same noise for every call (per sequence)
    assert noisy.min() < 0 and noisy.max() > 1  # not clipped


def test_awgn_test_channels_last_draws_the_same_noise():
    clean = torch.rand(4, 3, 9, 11)
    noisy_last = noise.add_awgn_test(clean.permute(0, 2, 3, 1), 20)
    assert noisy_last.shape == (4, 9, 11, 3)
    assert torch.equal(noisy_last.permute(0, 3, 1, 2), _paper_reference(clean, 20))


def test_awgn_test_leaves_global_rng_alone_and_keeps_dtype():
    torch.manual_seed(123)
    expected = torch.rand(3)
    torch.manual_seed(123)
    noise.add_awgn_test(torch.zeros(2, 3, 4, 4), 10)
    assert torch.equal(torch.rand(3), expected)
    assert noise.add_awgn_test(torch.zeros(2, 3, 4, 4, dtype=torch.float64), 10).dtype == torch.float64
    with pytest.raises(StbnError, match="one sequence"):
        noise.add_awgn_test(torch.zeros(1, 2, 3, 4, 4), 10)


def test_awgn_generator_reproducible_and_per_clip_sigma():
    clean = torch.zeros(2, 4, 3, 32, 32)
    sigma = torch.tensor([10.0, 50.0]).view(2, 1, 1, 1, 1) / 255
    a = noise.awgn(clean, sigma, generator=torch.Generator().manual_seed(5))
    b = noise.awgn(clean, sigma, generator=torch.Generator().manual_seed(5))
    assert torch.equal(a, b)
    std = a.flatten(1).std(dim=1) * 255
    assert abs(std[0] - 10) < 0.5 and abs(std[1] - 50) < 2


@pytest.mark.parametrize("iso", sorted(noise.RAW_NOISE_PARAMS))
def test_raw_noise_variance_matches_calibration(iso):
    level = 1240.0
    gen = torch.Generator().manual_seed(iso)
    noisy = noise.add_raw_noise(torch.full((400_000,), level), iso, generator=gen).double()
    predicted = noise.raw_noise_variance(level, iso)
    assert abs(noisy.var().item() / predicted - 1) < 0.02
    assert abs(noisy.mean().item() - level) < 1.0


def test_raw_noise_table_printed(capsys):
    rows = noise.raw_noise_table(samples=200_000)
    print("ISO   measured   a*(L-240)+b   rel.err")
    for r in rows:
        print(f"{r['iso']:5d} {r['measured']:10.1f} {r['predicted']:13.1f} {r['rel_error']:+.4f}")
    assert [r["iso"] for r in rows] == sorted(noise.RAW_NOISE_PARAMS)
    assert all(abs(r["rel_error"]) < 0.02 for r in rows)
    assert "25600" in capsys.readouterr().out


def test_raw_noise_clipped_and_unknown_iso():
    gen = torch.Generator().manual_seed(0)
    out = noise.add_raw_noise(torch.tensor([0.0, 240.0, 4095.0] * 1000), 25600, generator=gen)
    assert out.min() >= 0 and out.max() <= 4095
    assert out.dtype == torch.float32
    with pytest.raises(StbnError, match="ISO 800"):
        noise.add_raw_noise(torch.zeros(3), 800)
