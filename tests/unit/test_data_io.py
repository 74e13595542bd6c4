"""Frame readers and writers: folders (8/16 bit, natural order), videos, raw TIFF folders; atomic writes."""

from __future__ import annotations

import cv2
import numpy as np
import pytest

from stbn.data import io, raw
from stbn.data.atomic import atomic_output
from stbn.errors import StbnError


def _frames(n=4, h=12, w=16, seed=0):
    return [np.random.default_rng(seed + i).random((h, w, 3)).astype(np.float32) for i in range(n)]


def _siblings(path):
    return sorted(p.name for p in path.parent.iterdir())


def test_natural_key_orders_frame_numbers():
    names = ["frame10.png", "frame2.png", "frame1.png", "00011.png", "00009.png"]
    assert sorted(names, key=io.natural_key) == ["00009.png", "00011.png", "frame1.png", "frame2.png", "frame10.png"]


@pytest.mark.parametrize("bit_depth", [8, 16])
def test_folder_roundtrip(tmp_path, bit_depth):
    frames = _frames()
    assert io.write_frames(frames, tmp_path / "out", bit_depth=bit_depth) == 4
    src = io.open_frames(tmp_path / "out")
    assert (len(src), src.kind, src.size) == (4, "rgb", (12, 16))
    back = list(src)
    step = 1 / (2**bit_depth - 1)
    for a, b in zip(frames, back, strict=True):
        assert b.dtype == np.float32 and b.shape == (12, 16, 3)
        assert np.abs(a - b).max() <= step / 2 + 1e-6
    np.testing.assert_array_equal(io.read_sequence(tmp_path / "out"), np.stack(back))
    assert _siblings(tmp_path / "out") == ["out"]  # no temporary left


def test_read_sequence_natural_order_rgb_and_max_frames(tmp_path):
    for i in (1, 2, 10):
        img = np.zeros((4, 6, 3), np.uint8)
        img[..., 0] = i  # red channel encodes the frame number
        cv2.imwrite(str(tmp_path / f"f{i}.png"), img[..., ::-1])  # cv2 writes BGR
    seq = io.read_sequence(tmp_path)
    assert seq.shape == (3, 4, 6, 3)
    np.testing.assert_allclose(seq[:, 0, 0, 0] * 255, [1, 2, 10])
    assert (seq[..., 1:] == 0).all()
    assert io.read_sequence(tmp_path, max_frames=2).shape[0] == 2


def test_grey_and_16bit_tiff_frames(tmp_path):
    import tifffile

    tifffile.imwrite(tmp_path / "a1.tif", np.full((4, 6), 65535, np.uint16))
    tifffile.imwrite(tmp_path / "a2.tif", np.zeros((4, 6, 3), np.uint16))
    src = io.open_frames(tmp_path)
    first, second = list(src)
    assert src.kind == "rgb" and first.shape == (4, 6, 3) and (first == 1).all() and (second == 0).all()


def test_video_roundtrip(tmp_path):
    frames = [np.full((32, 48, 3), v, np.float32) for v in (0.2, 0.5, 0.8)]
    path = tmp_path / "clip.mp4"
    assert io.write_frames(frames, path, fps=10) == 3
    src = io.open_frames(path)
    assert (len(src), src.kind, src.size, src.fps) == (3, "rgb", (32, 48), 10.0)
    back = list(src)
    assert len(back) == 3
    for a, b in zip(frames, back, strict=True):
        assert np.abs(a - b).mean() < 0.02
    assert _siblings(path) == ["clip.mp4"]


def test_packed_raw_frames_roundtrip_through_tiff_folder(tmp_path):
    mosaic = np.random.default_rng(3).integers(240, 4096, (8, 12)).astype(np.uint16)
    packed = raw.normalise_raw(raw.pack_gbrg(mosaic))
    io.write_frames([packed, packed], tmp_path / "raw")
    src = io.open_frames(tmp_path / "raw", bayer="GBRG")
    assert (src.kind, src.size, len(src)) == ("raw", (4, 6), 2)
    np.testing.assert_array_equal(next(iter(src)), packed)


def test_crvd_named_tiffs_are_raw_automatically(tmp_path):
    import tifffile

    mosaic = np.random.default_rng(4).integers(240, 4096, (8, 12)).astype(np.uint16)
    for i in (1, 2):
        tifffile.imwrite(tmp_path / raw.crvd_file_name(i, 0), mosaic)
    src = io.open_frames(tmp_path)
    assert src.kind == "raw" and src.size == (4, 6)
    np.testing.assert_array_equal(list(src)[1], raw.normalise_raw(raw.pack_gbrg(mosaic)))


def test_list_sequences_set8_and_davis_roots(tmp_path):
    for seq in ("b", "a"):
        (tmp_path / "set8" / seq).mkdir(parents=True)
        (tmp_path / "DAVIS" / "JPEGImages" / "480p" / seq).mkdir(parents=True)
    assert [p.name for p in io.list_sequences(tmp_path / "set8")] == ["a", "b"]
    davis = io.list_sequences(tmp_path / "DAVIS")
    assert [p.name for p in davis] == ["a", "b"] and davis[0].parent.name == "480p"
    assert io.list_sequences(tmp_path) == davis
    (tmp_path / "empty").mkdir()
    with pytest.raises(StbnError, match="no sequence folders"):
        io.list_sequences(tmp_path / "empty")


def test_writer_failure_leaves_nothing(tmp_path):
    def failing():
        yield np.zeros((4, 4, 3), np.float32)
        raise RuntimeError("boom")

    for target in (tmp_path / "frames", tmp_path / "clip.mp4"):
        with pytest.raises(RuntimeError, match="boom"):
            io.write_frames(failing(), target)
    with pytest.raises(StbnError, match="frame 2"):
        io.write_frames([np.zeros((4, 4, 3)), np.zeros((4, 6, 3))], tmp_path / "mixed")
    with pytest.raises(StbnError, match="no frames to write"):
        io.write_frames([], tmp_path / "none")
    assert list(tmp_path.iterdir()) == []


def test_atomic_output_replaces_existing_folder(tmp_path):
    target = tmp_path / "d"
    target.mkdir()
    (target / "old.txt").write_text("old")
    with atomic_output(target, directory=True) as tmp:
        (tmp / "new.txt").write_text("new")
        assert not (target / "new.txt").exists()  # invisible until complete
    assert sorted(p.name for p in target.iterdir()) == ["new.txt"]
    assert _siblings(target) == ["d"]


def test_open_frames_bad_inputs(tmp_path):
    with pytest.raises(StbnError, match="no such file or folder"):
        io.open_frames(tmp_path / "missing")
    (tmp_path / "empty").mkdir()
    with pytest.raises(StbnError, match="no frames"):
        io.open_frames(tmp_path / "empty")
    (tmp_path / "notes.txt").write_text("x")
    with pytest.raises(StbnError, match="unsupported file type"):
        io.open_frames(tmp_path / "notes.txt")
    mixed = tmp_path / "mixed"
    io.write_frames(_frames(2, 8, 8), mixed)
    cv2.imwrite(str(mixed / "00002.png"), np.zeros((6, 8, 3), np.uint8))
    with pytest.raises(StbnError, match=r"00002.png: frame is 8x6 but 00000.png is 8x8"):
        list(io.open_frames(mixed))
    (mixed / "00003.png").write_bytes(b"\x89PNG garbage")
    with pytest.raises(StbnError, match="00003.png: unreadable image"):
        io.read_image(mixed / "00003.png")
