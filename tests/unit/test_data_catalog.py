"""The dataset catalog's validators on synthetic folders laid out like each real dataset."""

from __future__ import annotations

import dataclasses
import hashlib
import os

import cv2
import numpy as np
import pytest
import tifffile

from stbn.data import catalog, raw
from stbn.errors import StbnError


def _frames(folder, n, ext="png", size=(8, 12), start=0):
    folder.mkdir(parents=True, exist_ok=True)
    img = np.zeros((*size, 3), np.uint8)
    for i in range(start, start + n):
        cv2.imwrite(str(folder / f"{i:05d}.{ext}"), img)


def _davis(root, names, split_files):
    base = root / "DAVIS" / "JPEGImages" / "480p"
    for name in names:
        _frames(base / name, 3, "jpg")
    sets = root / "DAVIS" / "ImageSets" / "2017"
    sets.mkdir(parents=True)
    for f, part in split_files.items():
        (sets / f).write_text("\n".join(part) + "\n")
    return root / "DAVIS"


def test_davis_trainval_valid_and_broken(tmp_path):
    names = [f"seq{i:02d}" for i in range(90)]
    davis = _davis(tmp_path, names, {"train.txt": names[:60], "val.txt": names[60:]})
    assert catalog.validate("davis-2017-trainval", davis) == []
    assert catalog.validate("davis-2017-trainval", tmp_path) == []  # the folder above DAVIS/ works too
    base = davis / "JPEGImages" / "480p"
    os.rename(base / "seq42", tmp_path / "moved")
    (base / "seq07" / "00001.jpg").unlink()
    _frames(base / "seq08", 1, "jpg", size=(10, 12), start=3)
    with pytest.raises(StbnError) as info:
        catalog.validate("davis-2017-trainval", davis)
    msg = str(info.value)
    assert "\n" not in msg
    assert "missing sequences seq42" in msg
    assert "seq07: frames 00001 missing" in msg
    assert "seq08: frame sizes differ from 12x8: 00003.jpg is 12x10" in msg


def test_davis_test_dev_without_imagesets_counts_sequences(tmp_path):
    base = tmp_path / "JPEGImages" / "480p"
    for i in range(29):
        _frames(base / f"s{i}", 1, "jpg")
    with pytest.raises(StbnError, match="29 sequence folders .* expected 30"):
        catalog.validate("davis-2017-test-dev", tmp_path)
    _frames(base / "s29", 1, "jpg")
    assert catalog.validate("davis-2017-test-dev", tmp_path) == []
    with pytest.raises(StbnError, match="no JPEGImages/480p"):
        catalog.validate("davis-2017-test-dev", base / "s0")


def test_set8_valid_with_warnings_and_broken(tmp_path):
    for seq in catalog.SET8_SEQUENCES:
        _frames(tmp_path / seq, 3)
    warnings = catalog.validate("set8", tmp_path)
    assert any("tractor: 3 frames; the protocol uses the first 85" in w for w in warnings)
    assert any("960x540" in w for w in warnings)
    (tmp_path / "tractor" / "00000.png").unlink()
    (tmp_path / "sunflower" / "00001.png").unlink()
    (tmp_path / "sunflower" / "00002.png").unlink()
    for f in (tmp_path / "park_joy").iterdir():
        f.unlink()
    with pytest.raises(StbnError) as info:
        catalog.validate("set8", tmp_path)
    assert "park_joy: no frames" in str(info.value)
    assert "sunflower: frames" not in str(info.value)  # one frame left: nothing between to be missing
    os.rename(tmp_path / "motorbike", tmp_path / "motorbike2")
    with pytest.raises(StbnError, match="missing sequences motorbike"):
        catalog.validate("set8", tmp_path)


def _crvd(root, flat, realisations=catalog.CRVD_REALISATIONS, scenes=catalog.CRVD_TEST_SCENES):
    template = root / "template.tiff"
    tifffile.imwrite(template, np.full((4, 6), 240, np.uint16))
    for scene in scenes:
        for part, reals in (("gt", [None]), ("noisy", range(realisations))):
            scene_dir = raw.crvd_scene_candidates(root / "CRVD", part, scene)[1 if flat else 0]
            for iso in raw.CRVD_ISOS:
                (scene_dir / f"ISO{iso}").mkdir(parents=True)
                for frame in raw.CRVD_FRAMES:
                    for r in reals:
                        os.link(template, scene_dir / f"ISO{iso}" / raw.crvd_file_name(frame, r))
    return root / "CRVD"


@pytest.mark.parametrize("flat", [False, True], ids=["official", "flattened"])
def test_crvd_both_layouts_valid(tmp_path, flat):
    crvd = _crvd(tmp_path, flat)
    warnings = catalog.validate("crvd", crvd)
    assert len(warnings) == 1 and "is 6x4, expected 1920x1080" in warnings[0]  # synthetic frames are tiny
    assert raw.read_crvd_sequence(crvd, 11, 25600, realisation=9).shape == (7, 2, 3, 4)


def test_crvd_broken(tmp_path):
    crvd = _crvd(tmp_path, flat=False)
    noisy = raw.crvd_scene_dir(crvd, "noisy", 9) / "ISO6400"
    (noisy / "frame3_noisy4.tiff").unlink()
    (noisy / "frame5_noisy0.tiff").unlink()
    tifffile.imwrite(noisy / "frame5_noisy0.tiff", np.zeros((5, 6), np.uint16))
    (noisy / "frame6_noisy0.tiff").unlink()
    (noisy / "frame6_noisy0.tiff").write_bytes(b"garbage")
    with pytest.raises(StbnError) as info:
        catalog.validate("crvd", crvd)
    msg = str(info.value)
    assert "missing 1 file(s): indoor_raw_noisy/indoor_raw_noisy_scene9/scene9/ISO6400/frame3_noisy4.tiff" in msg
    assert "frame5_noisy0.tiff is uint16 (5, 6), not an even-sized 16-bit mosaic" in msg
    assert "frame6_noisy0.tiff unreadable" in msg


def test_crvd_missing_scene_and_top_level(tmp_path):
    crvd = _crvd(tmp_path, flat=True, realisations=1, scenes=(7, 8, 9, 10))
    with pytest.raises(StbnError) as info:
        catalog.validate("crvd", crvd)
    assert "missing scene folders: indoor_raw_gt scene11, indoor_raw_noisy scene11;" in str(info.value)
    assert "missing 1260 file(s): indoor_raw_noisy/scene7/ISO1600/frame1_noisy1.tiff" in str(info.value)
    with pytest.raises(StbnError, match="no indoor_raw_gt/ and indoor_raw_noisy/"):
        catalog.validate("crvd", tmp_path)


def test_archive_checksums(tmp_path, monkeypatch):
    archive = tmp_path / "DAVIS-2017-test-dev-480p.zip"
    archive.write_bytes(b"zip bytes")
    warnings = catalog.validate("davis-2017-test-dev", archive)
    assert "no sha256 recorded" in warnings[0] and hashlib.sha256(b"zip bytes").hexdigest() in warnings[0]
    info = dataclasses.replace(catalog.CATALOG["davis-2017-test-dev"], checksums={archive.name: "0" * 64})
    monkeypatch.setitem(catalog.CATALOG, "davis-2017-test-dev", info)
    with pytest.raises(StbnError, match="DAVIS-2017-test-dev-480p.zip: checksum mismatch"):
        catalog.validate("davis-2017-test-dev", archive)


def test_unknown_dataset_and_missing_path(tmp_path):
    with pytest.raises(StbnError, match="unknown dataset 'set9'.*set8"):
        catalog.validate("set9", tmp_path)
    with pytest.raises(StbnError, match="no such file or folder"):
        catalog.validate("set8", tmp_path / "nope")


def test_every_entry_documents_source_licence_layout():
    for info in catalog.CATALOG.values():
        assert info.source and info.licence and info.layout and info.kind in ("srgb", "raw", "any")
