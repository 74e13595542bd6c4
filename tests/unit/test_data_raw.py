"""Bayer packing, level normalisation, unprocessing and CRVD file layout."""

from __future__ import annotations

import numpy as np
import pytest
import tifffile
import torch

from stbn.data import raw
from stbn.errors import StbnError


def test_pack_gbrg_matches_rvidenet_slicing():
    im = np.arange(36, dtype=np.uint16).reshape(6, 6)
    packed = raw.pack_gbrg(im)
    expected = np.stack([im[1::2, 0::2], im[1::2, 1::2], im[0::2, 0::2], im[0::2, 1::2]], axis=-1)
    assert packed.shape == (3, 3, 4)
    np.testing.assert_array_equal(packed, expected)


@pytest.mark.parametrize("pattern", raw.PATTERNS)
def test_pack_unpack_roundtrip_every_pattern(pattern):
    im = np.random.default_rng(0).integers(0, 4096, (2, 8, 10)).astype(np.uint16)
    packed = raw.pack_bayer(im, pattern)
    assert packed.shape == (2, 4, 5, 4)
    np.testing.assert_array_equal(raw.unpack_bayer(packed, pattern), im)
    # R really is the red site of the pattern
    r_row, r_col = divmod(pattern.index("R"), 2)
    np.testing.assert_array_equal(packed[..., 0], im[..., r_row::2, r_col::2])


def test_pack_works_on_torch_tensors():
    im = torch.arange(16.0).reshape(4, 4)
    packed = raw.pack_gbrg(im)
    assert isinstance(packed, torch.Tensor)
    np.testing.assert_array_equal(packed.numpy(), raw.pack_gbrg(im.numpy()))
    assert torch.equal(raw.unpack_to_gbrg(packed), im)


def test_odd_bayer_dimensions_rejected():
    with pytest.raises(StbnError, match="5x4.*even"):
        raw.pack_gbrg(np.zeros((5, 4), np.uint16))


def test_unknown_pattern_rejected():
    with pytest.raises(StbnError, match="CFA pattern"):
        raw.pack_bayer(np.zeros((4, 4)), "RGBG")


def test_normalise_raw_levels():
    x = np.array([0, 240, 240 + 3855 / 2, 4095, 5000], dtype=np.float32)
    out = raw.normalise_raw(x)
    np.testing.assert_allclose(out, [0, 0, 0.5, 1, (5000 - 240) / 3855], rtol=1e-6)
    torch.testing.assert_close(raw.normalise_raw(torch.from_numpy(x)), torch.from_numpy(out))
    np.testing.assert_array_equal(raw.denormalise_raw(out[:4]), [240, 240, 2168, 4095])


def test_rgb2cam_rows_sum_to_one():
    np.testing.assert_allclose(raw.rgb2cam().sum(axis=1), 1.0, rtol=1e-12)


def test_unprocess_black_white_and_monotone():
    levels = np.linspace(0, 1, 6)
    frame = np.repeat(np.repeat(levels[:, None, None], 2, 0), 4, 1) * np.ones(3)  # (12, 4, 3) grey ramp
    bayer = raw.unprocess(frame)
    assert bayer.dtype == np.uint16 and bayer.shape == (12, 4)
    assert (bayer[:2] == raw.BLACK_LEVEL).all()  # black stays at the black level
    assert (bayer[-2:] == raw.WHITE_LEVEL).all()  # white saturates every site (highlights spared by the gains)
    green = bayer[0::2, 0::2][:, 0]  # G sites of successive grey levels
    assert (np.diff(green.astype(int)) > 0).all()
    with pytest.raises(StbnError, match="even"):
        raw.unprocess(np.zeros((3, 4, 3)))


def _tiff(path, data):
    path.parent.mkdir(parents=True, exist_ok=True)
    tifffile.imwrite(path, data)


@pytest.mark.parametrize("flat", [False, True])
def test_crvd_both_layouts_read_the_same(tmp_path, flat):
    mosaic = np.random.default_rng(1).integers(240, 4096, (3, 6, 8)).astype(np.uint16)
    for part, real in (("gt", None), ("noisy", 0)):
        scene_dir = raw.crvd_scene_candidates(tmp_path, part, 7)[1 if flat else 0]
        for i in range(3):
            _tiff(scene_dir / "ISO1600" / raw.crvd_file_name(i + 1, real), mosaic[i])
    assert raw.crvd_scenes(tmp_path) == [7]
    seq = raw.read_crvd_sequence(tmp_path, 7, 1600, realisation=0, frames=[1, 2, 3])
    assert seq.shape == (3, 3, 4, 4) and seq.dtype == np.float32
    np.testing.assert_array_equal(seq, raw.normalise_raw(raw.pack_gbrg(mosaic)))
    mosaics = raw.read_crvd_sequence(tmp_path, 7, 1600, realisation=None, frames=[1, 2, 3], packed=False)
    np.testing.assert_array_equal(mosaics, mosaic)
    with pytest.raises(StbnError, match="scene 8 not found"):
        raw.read_crvd_sequence(tmp_path, 8, 1600)


@pytest.mark.parametrize(
    ("data", "message"),
    [
        (np.zeros((5, 4), np.uint16), "5x4"),
        (np.zeros((4, 4), np.uint8), "16-bit"),
        (np.zeros((4, 4, 3), np.uint16), "single-channel"),
    ],
)
def test_read_bayer_tiff_rejects_malformed(tmp_path, data, message):
    path = tmp_path / "frame1_noisy0.tiff"
    _tiff(path, data)
    with pytest.raises(StbnError, match=message) as info:
        raw.read_bayer_tiff(path)
    assert str(path) in str(info.value)


def test_read_bayer_tiff_unreadable_and_missing(tmp_path):
    bad = tmp_path / "x.tiff"
    bad.write_bytes(b"not a tiff at all")
    with pytest.raises(StbnError, match="unreadable TIFF"):
        raw.read_bayer_tiff(bad)
    with pytest.raises(StbnError, match="not found"):
        raw.read_bayer_tiff(tmp_path / "missing.tiff")
