"""Classical baselines: same frames in, clamped estimates and per-frame times out, better than the input."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from skimage import data
from skimage.metrics import peak_signal_noise_ratio

from stbn.errors import StbnError
from stbn.evaluation.baselines import METHODS, denoise_sequence

SIGMA = 30.0


@pytest.fixture(scope="module")
def clip() -> tuple[np.ndarray, np.ndarray]:
    """A 3-frame real-image clip (a still panned by one pixel per frame) and its noisy version."""
    still = data.astronaut()[::4, ::4][40:88, 40:88].astype(np.float32) / 255.0
    clean = np.stack([np.roll(still, t, axis=1) for t in range(3)])
    noisy = clean + np.random.default_rng(0).normal(0.0, SIGMA / 255.0, clean.shape).astype(np.float32)
    return clean, noisy


@pytest.fixture(scope="module")
def outputs(clip: tuple[np.ndarray, np.ndarray]) -> dict[str, list[tuple[np.ndarray, float]]]:
    return {m: list(denoise_sequence(clip[1], SIGMA, m)) for m in METHODS}


def psnr(clean: np.ndarray, frames: list[tuple[np.ndarray, float]]) -> float:
    return float(np.mean([peak_signal_noise_ratio(c, f, data_range=1.0) for c, (f, _) in zip(clean, frames)]))


@pytest.mark.parametrize("method", METHODS)
def test_one_clamped_frame_and_time_per_input_frame(method: str, clip, outputs) -> None:
    frames = outputs[method]
    assert len(frames) == clip[1].shape[0]
    for frame, seconds in frames:
        assert frame.shape == clip[1].shape[1:] and frame.dtype == np.float32
        assert frame.min() >= 0.0 and frame.max() <= 1.0
        assert seconds >= 0.0


def test_noisy_is_the_clamped_input(clip, outputs) -> None:
    np.testing.assert_array_equal(np.stack([f for f, _ in outputs["noisy"]]), np.clip(clip[1], 0, 1))


@pytest.mark.parametrize("method", [m for m in METHODS if m != "noisy"])
def test_denoisers_beat_the_noisy_input(method: str, clip, outputs) -> None:
    gain = psnr(clip[0], outputs[method]) - psnr(clip[0], outputs["noisy"])
    assert gain > 1.5, f"{method} gains only {gain:.2f} dB at sigma {SIGMA}"


def test_bad_input_is_a_one_line_user_error(clip) -> None:
    with pytest.raises(StbnError, match="unknown baseline method"):
        next(denoise_sequence(clip[1], SIGMA, "wiener"))
    with pytest.raises(StbnError, match="bm3d needs an RGB sequence"):
        next(denoise_sequence(clip[1][..., 0], SIGMA, "bm3d"))
    with pytest.raises(StbnError, match="sigma must be positive"):
        next(denoise_sequence(clip[1], 0.0, "bm3d"))
    with pytest.raises(StbnError, match="sigma must be positive"):
        next(denoise_sequence(clip[1], None, "nlm-skimage"))


def test_worker_processes_give_the_same_frames(clip, outputs) -> None:
    for method in ("nlm-opencv", "nlm-skimage"):
        parallel = list(denoise_sequence(clip[1], SIGMA, method, workers=2))
        for (a, _), (b, seconds) in zip(outputs[method], parallel):
            np.testing.assert_array_equal(a, b)
            assert seconds > 0
    with pytest.raises(StbnError, match="workers must be >= 1"):
        next(denoise_sequence(clip[1], SIGMA, "bm3d", workers=0))


def test_noisy_row_also_serves_packed_raw(clip) -> None:
    raw = np.concatenate([clip[1], clip[1][..., :1]], axis=-1)
    frames = [f for f, _ in denoise_sequence(raw, None, "noisy")]
    np.testing.assert_array_equal(np.stack(frames), np.clip(raw, 0, 1))


@pytest.fixture(scope="module")
def test_set(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A Set8-style folder: two real-image sequences of 3 frames, 40x48."""
    from stbn.data.io import write_frames

    root = tmp_path_factory.mktemp("set")
    for name, still in (("astronaut", data.astronaut()), ("coffee", data.coffee())):
        frames = [still[::4, ::4][20 + t : 60 + t, 30:78].astype(np.float32) / 255.0 for t in range(3)]
        write_frames(frames, root / name)
    return root


def test_cli_scores_and_times_the_protocol_frames(test_set: Path, tmp_path: Path) -> None:
    """`stbn baseline` sees the same noisy frames as `stbn evaluate` and its output feeds the tables."""
    from stbn.cli import main
    from stbn.evaluation.metrics import frame_metrics
    from stbn.evaluation.protocol import srgb_test_sequences
    from stbn.report.runs import read_frames, read_score

    out = tmp_path / "baselines" / "noisy" / "set" / "sigma30"
    assert main(["baseline", "--method", "noisy", "--data", str(test_set), "--sigma", "30",
                 "--out", str(out), "--samples", "1"]) == 0
    rows = read_frames(out)
    assert [r["sequence"] for r in rows] == ["astronaut"] * 3 + ["coffee"] * 3
    expected = [frame_metrics(s.clean[t], np.clip(s.noisy[t], 0, 1))
                for s in srgb_test_sequences(test_set, 30.0, 85) for t in range(3)]
    np.testing.assert_allclose([(r["psnr"], r["ssim"]) for r in rows], expected, rtol=1e-9)
    assert all(isinstance(r["seconds"], float) for r in rows)
    score = read_score(out)
    summary = json.loads((out / "summary.json").read_text())
    assert score.psnr == pytest.approx(summary["psnr"]) and summary["method"] == "noisy"
    assert score.seconds_per_frame == pytest.approx(summary["seconds_per_frame"])
    panels = sorted((out / "samples").rglob("*.png"))
    assert [p.parent.name for p in panels] == ["astronaut"]


def test_cli_rejects_classical_methods_on_raw(tmp_path: Path) -> None:
    from stbn.cli import main

    argv = ["baseline", "--method", "bm3d", "--data", str(tmp_path), "--iso", "1600", "--out", str(tmp_path / "o")]
    assert main(argv) == 2
    assert not (tmp_path / "o").exists()


def test_cli_makes_the_samples_folder_even_without_samples(test_set: Path, tmp_path: Path) -> None:
    from stbn.cli import main

    out = tmp_path / "noisy"
    assert main(["baseline", "--method", "noisy", "--data", str(test_set), "--sigma", "50", "--out", str(out)]) == 0
    assert (out / "samples").is_dir() and not list((out / "samples").iterdir())


def test_cli_failure_leaves_no_output(test_set: Path, tmp_path: Path) -> None:
    """OUT appears as a whole: a sequence that fails after another was scored leaves no OUT behind."""
    from stbn.cli import main

    data = tmp_path / "data"
    data.mkdir()
    (data / "a").symlink_to(test_set / "astronaut")
    (data / "b").mkdir()
    (data / "b" / "00000.png").write_bytes(b"not a png")
    argv = ["baseline", "--method", "noisy", "--data", str(data), "--sigma", "30", "--samples", "2"]
    assert main([*argv, "--out", str(tmp_path / "out")]) == 2
    assert sorted(p.name for p in tmp_path.iterdir()) == ["data"]  # no OUT, no temporary sibling
    (tmp_path / "mine").mkdir()
    (tmp_path / "mine" / "notes.txt").write_text("mine")
    assert main([*argv, "--out", str(tmp_path / "mine")]) == 2
    assert (tmp_path / "mine" / "notes.txt").read_text() == "mine"
