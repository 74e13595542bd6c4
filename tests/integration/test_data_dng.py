"""DNG written with tifffile from a real-video-derived Bayer frame, read back through our raw reader."""

from __future__ import annotations

import numpy as np
import rawpy

from stbn.data import embedded, io, raw


def _clean_mosaic(embedded_data):
    return raw.read_crvd_sequence(embedded_data[embedded.RAW], 8, 1600, realisation=0, frames=[3], packed=False)[0]


def test_dng_metadata_as_libraw_sees_it(embedded_data, tmp_path):
    path = io.write_dng(tmp_path / "f.dng", _clean_mosaic(embedded_data))
    with rawpy.imread(str(path)) as r:
        assert list(r.black_level_per_channel) == [240] * 4
        assert r.white_level == 4095
        assert r.raw_pattern.tolist() == [[3, 2], [0, 1]]
        assert r.color_desc == b"RGBG"


def test_dng_bit_exact_and_same_packed_tensor_as_crvd_tiff(embedded_data, tmp_path):
    mosaic = _clean_mosaic(embedded_data)
    for i in range(2):
        io.write_dng(tmp_path / "dng" / f"frame{i}.dng", mosaic)
    frame = io.read_dng(tmp_path / "dng" / "frame0.dng")
    assert frame.pattern == "GBRG" and frame.white == 4095 and frame.black.tolist() == [240] * 4
    np.testing.assert_array_equal(frame.bayer, mosaic)
    source = io.open_frames(tmp_path / "dng")
    assert (source.kind, source.size, len(source)) == ("raw", (128, 128), 2)
    crvd = raw.read_crvd_sequence(embedded_data[embedded.RAW], 8, 1600, realisation=0, frames=[3])[0]
    np.testing.assert_array_equal(next(iter(source)), crvd)


def test_dng_cfa_pattern_and_levels_are_honoured(embedded_data, tmp_path):
    mosaic = _clean_mosaic(embedded_data)
    reference = raw.pack_gbrg(mosaic)
    # Dropping the first row turns the GBRG mosaic into RGGB: R and Gr sites must still be found.
    shifted = io.read_dng(io.write_dng(tmp_path / "rggb.dng", mosaic[1:-1], pattern="RGGB"))
    assert shifted.pattern == "RGGB"
    packed = raw.pack_bayer(shifted.bayer, shifted.pattern)
    np.testing.assert_array_equal(packed[..., :2], reference[:-1, :, :2])
    # Other levels: 4x the signal above a black level of 512; normalisation must undo both.
    scaled = ((mosaic.astype(np.int64) - 240) * 4 + 512).astype(np.uint16)
    other = io.read_dng(io.write_dng(tmp_path / "levels.dng", scaled, black=512, white=512 + 4 * 3855))
    assert other.black.tolist() == [512] * 4 and other.white == 512 + 4 * 3855
    np.testing.assert_allclose(other.packed(), raw.normalise_raw(reference), atol=1e-6)


def test_libraw_develops_the_unprocessed_frame_back_to_its_srgb_source(tmp_path):
    """ColorMatrix1, AsShotNeutral and the unprocessing agree: LibRaw's linear output, re-toned, matches."""
    frame = next(io.VideoSource(embedded.locate_source("bikes")).iter_rgb24())[8:264, 192:448]
    path = io.write_dng(tmp_path / "f.dng", raw.unprocess(frame / 255.0))
    with rawpy.imread(str(path)) as r:
        linear = r.postprocess(use_camera_wb=True, no_auto_bright=True, gamma=(1, 1), output_bps=16) / 65535.0
    x = linear ** (1 / 2.2)
    srgb = 3 * x**2 - 2 * x**3  # the smoothstep tone curve that unprocessing inverted
    mse = ((srgb - frame / 255.0) ** 2).mean()
    assert 10 * np.log10(1 / mse) > 35  # demosaicing is the only loss (about 44 dB)
