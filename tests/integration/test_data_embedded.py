"""The embedded datasets: pinned decoding, layout, disjoint train/test, determinism, idempotence."""

from __future__ import annotations

import hashlib
import json
import shutil

import cv2
import numpy as np
import pytest

from stbn.data import catalog, embedded, io, raw
from stbn.errors import StbnError


@pytest.mark.parametrize("key", sorted(embedded.SOURCES))
def test_decoded_frames_md5_is_pinned(key):
    clip = embedded.SOURCES[key]
    md5, n = hashlib.md5(), 0
    for frame in io.VideoSource(embedded.locate_source(key)).iter_rgb24():
        md5.update(frame.tobytes())
        n += 1
    assert n == clip.frames
    assert (
        md5.hexdigest()
        == {"bikes": "75940e65210f42b8151d72ad015e1cdd", "carphone": "9e7b9bcb15b506135da0384ecd7cadaa"}[key]
    )


def test_layout_and_sizes(embedded_data):
    train = io.list_sequences(embedded_data[embedded.TRAIN])
    test = io.list_sequences(embedded_data[embedded.TEST])
    assert train[0].parent == embedded_data[embedded.TRAIN] / "JPEGImages" / "480p"
    assert [p.name for p in train] == ["bikes-commuter", "bikes-cyclist", "bikes-pedestrian", "bikes-road"]
    assert [p.name for p in test] == ["bikes-fence", "carphone"]
    assert sorted(p.name for p in train[0].iterdir())[:2] == ["00000.jpg", "00001.jpg"]
    assert io.read_sequence(test[0]).shape == (25, 136, 320, 3)
    assert io.read_sequence(test[1]).shape == (25, 144, 176, 3)
    assert len(io.open_frames(train[3])) == 30
    for scene in (7, 8, 9):
        noisy = raw.read_crvd_sequence(embedded_data[embedded.RAW], scene, 25600, realisation=1)
        assert noisy.shape == (7, 128, 128, 4)
    assert raw.crvd_scenes(embedded_data[embedded.RAW]) == [7, 8, 9]


def test_train_and_test_do_not_overlap():
    train = {(c.source, i) for c in embedded.TRAIN_CLIPS for i in range(c.start, c.stop)}
    test = {(c.source, i) for c in embedded.TEST_CLIPS for i in range(c.start, c.stop)}
    assert not train & test
    assert not {c.name for c in embedded.TRAIN_CLIPS} & {c.name for c in embedded.TEST_CLIPS}
    cuts = embedded.BIKES_CUTS
    for c in embedded.TRAIN_CLIPS + embedded.TEST_CLIPS:  # every clip stays within one shot
        if c.source == "bikes":
            assert any(a <= c.start and c.stop <= b for a, b in zip(cuts, cuts[1:], strict=False))


def test_test_frames_are_the_downscaled_source(embedded_data):
    frames = io.VideoSource(embedded.locate_source("bikes")).iter_rgb24()
    first = next(f for i, f in enumerate(frames) if i == 137)
    png = io.read_sequence(embedded_data[embedded.TEST] / "bikes-fence", max_frames=1)[0]
    np.testing.assert_array_equal(np.round(png * 255).astype(np.uint8), embedded.downscale(first, 2))


def test_raw_set_noise_and_clean(embedded_data):
    root = embedded_data[embedded.RAW]
    clean = raw.read_crvd_sequence(root, 7, 1600, realisation=None, packed=False).astype(np.float64)
    assert clean.min() >= raw.BLACK_LEVEL and clean.max() <= raw.WHITE_LEVEL
    same = raw.read_crvd_sequence(root, 7, 25600, realisation=None, packed=False)
    np.testing.assert_array_equal(clean, same)  # the clean frame is the same at every ISO
    previous = 0.0
    for iso in raw.CRVD_ISOS:
        noisy = raw.read_crvd_sequence(root, 7, iso, realisation=0, packed=False).astype(np.float64)
        var = (noisy - clean).var()
        assert var > previous
        previous = var
    n0 = raw.read_crvd_sequence(root, 7, 3200, realisation=0, packed=False)
    n1 = raw.read_crvd_sequence(root, 7, 3200, realisation=1, packed=False)
    assert not np.array_equal(n0, n1)


def test_deterministic_and_idempotent(embedded_data, tmp_path):
    again = embedded.materialise(tmp_path)
    for name, root in embedded_data.items():
        first = json.loads((root / embedded.MANIFEST).read_text())["files"]
        second = json.loads((again[name] / embedded.MANIFEST).read_text())["files"]
        assert first == second
    stamp = (again[embedded.TEST] / embedded.MANIFEST).stat().st_mtime_ns
    assert embedded.materialise(tmp_path) == again
    assert (again[embedded.TEST] / embedded.MANIFEST).stat().st_mtime_ns == stamp


def test_validator_accepts_embedded_and_catches_tampering(embedded_data, tmp_path):
    for name, root in embedded_data.items():
        assert catalog.validate(name, root) == []
    copy = tmp_path / "test"
    shutil.copytree(embedded_data[embedded.TEST], copy)
    (copy / "carphone" / "00003.png").write_bytes((copy / "carphone" / "00004.png").read_bytes())
    with pytest.raises(StbnError, match=r"checksum mismatch: carphone/00003.png"):
        catalog.validate(embedded.TEST, copy)
    (copy / "bikes-fence" / "00007.png").unlink()
    with pytest.raises(StbnError, match=r"bikes-fence: frames 00007 missing"):
        catalog.validate(embedded.TEST, copy)


def test_source_checksum_mismatch_leaves_nothing(tmp_path, monkeypatch):
    bad = embedded.SourceClip("carphone_pristine.mp4", "0" * 64, "", 120)
    monkeypatch.setitem(embedded.SOURCES, "carphone", bad)
    with pytest.raises(StbnError, match="carphone_pristine.mp4: checksum mismatch"):
        embedded.materialise(tmp_path)
    assert list(tmp_path.iterdir()) == []


def test_decoded_frames_mismatch_leaves_nothing(tmp_path, monkeypatch):
    clip = embedded.SOURCES["carphone"]
    monkeypatch.setattr(embedded, "SOURCES", {"carphone": embedded.SourceClip(clip.file, clip.sha256, "f" * 32, 120)})
    with pytest.raises(StbnError, match="checksum mismatch of the decoded frames"):
        embedded.materialise(tmp_path)
    assert list(tmp_path.iterdir()) == []  # the partly written datasets were removed


@pytest.mark.parametrize(
    ("dataset", "pattern"), [(embedded.TEST, "carphone/*.png"), (embedded.TRAIN, "JPEGImages/480p/bikes-road/*.jpg")]
)
def test_read_sequence_equals_the_paper_loader(embedded_data, dataset, pattern):
    """The paper: sorted by the digits in the name, cv2.imread, BGR -> RGB, / 255, float32."""
    files = sorted(embedded_data[dataset].glob(pattern), key=lambda p: int("".join(filter(str.isdigit, p.name))))
    paper = np.stack([cv2.cvtColor(cv2.imread(str(f)), cv2.COLOR_BGR2RGB) for f in files]).astype(np.float32) / 255
    ours = io.read_sequence(files[0].parent)
    assert ours.dtype == np.float32
    np.testing.assert_array_equal(ours, paper)
