"""Bad input through the CLI: one clear line on stderr naming the file and the problem, exit code 2."""

from __future__ import annotations

import shutil
import subprocess
import sys

import av
import cv2
import numpy as np
import pytest
import tifffile

from stbn.cli import main
from stbn.data import embedded, io
from stbn.errors import StbnError


def _run(capsys, *argv):
    code = main(list(argv))
    return code, capsys.readouterr()


def _mixed_sizes(tmp_path):
    folder = tmp_path / "mixed"
    folder.mkdir()
    cv2.imwrite(str(folder / "00000.png"), np.zeros((8, 8, 3), np.uint8))
    cv2.imwrite(str(folder / "00001.png"), np.zeros((6, 8, 3), np.uint8))
    return folder, "00001.png: frame is 8x6 but 00000.png is 8x8"


def _odd_bayer(tmp_path):
    folder = tmp_path / "crvd"
    folder.mkdir()
    tifffile.imwrite(folder / "frame1_noisy0.tiff", np.zeros((5, 8), np.uint16))
    return folder, "frame1_noisy0.tiff: Bayer frame is 5x8; both dimensions must be even"


def _bad_dng(tmp_path):
    folder = tmp_path / "dngs"
    folder.mkdir()
    (folder / "a.dng").write_bytes(b"II*\x00 this is not a DNG")
    return folder, "a.dng: unreadable DNG"


def _corrupt_video(tmp_path):
    path = tmp_path / "corrupt.mp4"
    path.write_bytes(b"\x00\x00\x00\x18ftypmp42" + bytes(range(256)) * 8)
    return path, "corrupt.mp4: not a readable video"


def _truncated_video(tmp_path):
    """An mp4 with its index at the front (so it opens), cut in the middle of its frame data."""
    whole = tmp_path / "whole.mp4"
    with av.open(str(whole), "w", options={"movflags": "faststart"}) as container:
        stream = container.add_stream("libx264", rate=25)
        stream.width, stream.height, stream.pix_fmt = 64, 48, "yuv420p"
        rng = np.random.default_rng(0)
        for _ in range(30):
            img = rng.integers(0, 256, (48, 64, 3), dtype=np.uint8)
            container.mux(stream.encode(av.VideoFrame.from_ndarray(img, format="rgb24")))
        container.mux(stream.encode())
    data = whole.read_bytes()
    path = tmp_path / "truncated.mp4"
    path.write_bytes(data[: len(data) // 2])
    return path, "truncated.mp4: corrupt or truncated video, decoding failed after"


def _missing(tmp_path):
    return tmp_path / "nothing-here", "nothing-here: no such file or folder"


def _empty(tmp_path):
    (tmp_path / "empty").mkdir()
    return tmp_path / "empty", "empty: no frames"


BAD_INPUTS = [_missing, _empty, _corrupt_video, _truncated_video, _mixed_sizes, _odd_bayer, _bad_dng]


@pytest.mark.parametrize("make", BAD_INPUTS, ids=[f.__name__.strip("_") for f in BAD_INPUTS])
def test_bad_frames_input(tmp_path, capsys, make):
    path, message = make(tmp_path)
    code, out = _run(capsys, "validate-data", "--dataset", "frames", "--path", str(path))
    assert code == 2
    assert out.err.count("\n") == 1 and out.err.startswith("stbn validate-data: error: ")
    assert message in out.err


@pytest.fixture(scope="module")
def tiny_checkpoint(tmp_path_factory):
    """An untrained model of the tiny preset, saved as a checkpoint."""
    from stbn.checkpoint import build_model, save_checkpoint
    from stbn.config import preset

    cfg = preset("tiny")
    path = tmp_path_factory.mktemp("model") / "model.pt"
    return save_checkpoint(path, {"step": 0, "config": cfg.model_dump(mode="json"), "provenance": {},
                                  "state_dict": build_model(cfg).state_dict()})


def _listing(folder):
    return {p.relative_to(folder) for p in folder.rglob("*")}


def _denoise_fails(capsys, checkpoint, source, output, message):
    """`stbn denoise` exits 2 with one error line (the last on stderr, after any progress bar) naming the
    problem, and changes nothing at ``output`` or beside it."""
    root = next(p for p in output.parents if p.is_dir())
    before = _listing(root)
    code, out = _run(capsys, "denoise", str(source), "-o", str(output), "--checkpoint", str(checkpoint),
                     "--sigma", "30", "--device", "cpu")
    errors = [line for line in out.err.splitlines() if "error:" in line]
    assert code == 2 and len(errors) == 1 and out.err.endswith(errors[0] + "\n"), out.err
    assert errors[0].startswith("stbn denoise: error: ") and message in errors[0]
    assert _listing(root) == before


@pytest.mark.parametrize("make", BAD_INPUTS, ids=[f.__name__.strip("_") for f in BAD_INPUTS])
def test_denoise_bad_input(tmp_path, capsys, tiny_checkpoint, make):
    path, message = make(tmp_path)
    _denoise_fails(capsys, tiny_checkpoint, path, tmp_path / "out", message)


def _crvd_frames(tmp_path):
    folder = tmp_path / "crvd-ok"
    folder.mkdir()
    tifffile.imwrite(folder / "frame1_noisy0.tiff", np.zeros((8, 8), np.uint16))
    return folder


BAD_OUTPUTS = [
    ("out.avi", "out.avi: cannot write .avi videos"),
    ("out.png", "out.png: one image file cannot hold a clip"),
    ("file/out", "file is not a folder"),
    ("folder.mp4", "folder.mp4: exists and is a folder"),
    ("raw.mp4", "raw.mp4: raw frames are written as a folder of 16-bit TIFFs"),
    ("photos", "photos: holds holiday.jpg, not frames of a previous output"),
]


@pytest.mark.parametrize(("name", "message"), BAD_OUTPUTS, ids=[name for name, _ in BAD_OUTPUTS])
def test_denoise_bad_output_before_any_work(tmp_path, capsys, tiny_checkpoint, name, message):
    (tmp_path / "file").write_text("")
    (tmp_path / "folder.mp4").mkdir()
    (tmp_path / "folder.mp4" / "keep.txt").write_text("")
    (tmp_path / "photos").mkdir()
    (tmp_path / "photos" / "00000.png").write_text("")
    (tmp_path / "photos" / "holiday.jpg").write_text("")
    source, _ = _truncated_video(tmp_path)  # reading it fails: the output must be refused before that
    _denoise_fails(capsys, tiny_checkpoint, _crvd_frames(tmp_path) if name == "raw.mp4" else source,
                   tmp_path / name, message)


def test_truncated_video_streams_frames_before_failing(tmp_path):
    path, _ = _truncated_video(tmp_path)
    source = io.open_frames(path)
    assert len(source) == 30
    frames = iter(source)
    assert next(frames).shape == (48, 64, 3)
    with pytest.raises(StbnError, match=r"of 30 frames"):
        list(frames)


def test_dataset_with_missing_sequences_frames_and_checksum(embedded_data, tmp_path, capsys):
    copy = tmp_path / "test"
    shutil.copytree(embedded_data[embedded.TEST], copy)
    shutil.rmtree(copy / "carphone")
    (copy / "bikes-fence" / "00010.png").unlink()
    (copy / "bikes-fence" / "00011.png").write_bytes((copy / "bikes-fence" / "00012.png").read_bytes())
    code, out = _run(capsys, "validate-data", "--dataset", embedded.TEST, "--path", str(copy))
    assert code == 2 and out.err.count("\n") == 1
    for part in (
        "missing sequences carphone",
        "bikes-fence: frames 00010 missing",
        "bikes-fence: 24 frames, expected 25",
        "checksum mismatch: bikes-fence/00011.png",
    ):
        assert part in out.err


def test_prepare_and_validate_ok(embedded_data, capsys):
    root = embedded_data[embedded.TEST].parent
    code, out = _run(capsys, "prepare", "embedded", "--out", str(root))  # idempotent: already there
    assert code == 0 and f"{embedded.RAW}\t{embedded_data[embedded.RAW]}" in out.out
    code, out = _run(capsys, "validate-data", "--dataset", embedded.RAW, "--path", str(embedded_data[embedded.RAW]))
    assert code == 0 and "ok:" in out.out


def test_installed_entry_point_exit_code(tmp_path):
    proc = subprocess.run(
        [sys.executable, "-m", "stbn.cli", "validate-data", "--dataset", "set8", "--path", str(tmp_path / "x")],
        capture_output=True,
        text=True,
        check=False,
    )
    assert proc.returncode == 2
    assert proc.stderr.strip() == f"stbn validate-data: error: {tmp_path / 'x'}: no such file or folder"
