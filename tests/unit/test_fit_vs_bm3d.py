"""benchmarks/fit_vs_bm3d.py's pure helpers: the clips of a dataset, their centre crops and the per-dataset report
(no fitting, no baselines: a fake held-out set of tiny frames)."""

import json
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pytest

from stbn.data import corpus, embedded
from stbn.data.io import write_frames


@pytest.fixture(scope="module")
def bench(load_benchmark):
    return load_benchmark("fit_vs_bm3d")


@pytest.fixture
def data_root(tmp_path: Path) -> Path:
    """Both corpus datasets as current (manifests of the current recipe, so nothing is materialised); the
    held-out one holds three clips of 3 frames, 8x12 pixels."""
    for name in (corpus.CORPUS_TRAIN, corpus.CORPUS_HELDOUT):
        (tmp_path / name).mkdir()
        (tmp_path / name / embedded.MANIFEST).write_text(json.dumps({"dataset": name, "recipe": corpus.RECIPE}))
    ramp = np.linspace(0.0, 1.0, 3 * 8 * 12 * 3, dtype=np.float32).reshape(3, 8, 12, 3)
    for clip in ("pens", "diver", "lego"):
        write_frames(ramp, tmp_path / corpus.CORPUS_HELDOUT / clip)
    return tmp_path


def test_clips_are_the_dataset_folders_sequences(bench, data_root):
    assert bench.dataset_clips(data_root, corpus.CORPUS_HELDOUT) == ["diver", "lego", "pens"]


def test_clean_clip_takes_the_first_frames_centre_cropped(bench, data_root):
    whole = bench.clean_clip(data_root, "lego", 10, 100, corpus.CORPUS_HELDOUT)
    assert whole.shape == (3, 8, 12, 3)
    crop = bench.clean_clip(data_root, "lego", 2, 6, corpus.CORPUS_HELDOUT)
    np.testing.assert_array_equal(crop, whole[:2, 1:7, 3:9])


def test_the_report_separates_the_datasets(bench, tmp_path, capsys):
    runs = tmp_path / "runs"
    runs.mkdir()
    base = {"sigma": 30.0, "frames": 20, "size": [144, 176], "seconds": 60.0}
    rows = [
        # stored before --dataset existed: the embedded test clips
        {"clip": "carphone", "method": "bm3d", "psnr": 30.7, "load": 2.0},
        {"clip": "carphone", "method": "cpu-fit", "minutes": 30.0, "seed": 0, "psnr": 30.8, "load_mean": 2.0},
    ] + [
        {"dataset": corpus.CORPUS_HELDOUT, "clip": clip, "method": "cpu-fit", "minutes": minutes, "seed": 0,
         "psnr": 30.0 + minutes / 10, "load_mean": 2.0}
        for clip in ("coin-pen", "diver", "lego", "pens") for minutes in (10.0, 30.0)
    ] + [{"dataset": corpus.CORPUS_HELDOUT, "clip": "pens", "method": "bm3d", "psnr": 32.0, "load": 2.0,
          "machine": {"cpu": "Test CPU", "cpu_capability": "AVX2", "native_bf16": False}}]
    for i, row in enumerate(rows):
        (runs / f"{i}.json").write_text(json.dumps({**base, **row}))
    loaded = bench.load_results(tmp_path)
    bench.print_table(loaded, tmp_path)
    out = capsys.readouterr().out
    assert "machine: Test CPU, AVX2, native bf16 False (1 results)" in out
    assert "machine: not recorded (10 results)" in out
    assert "embedded-srgb-test: carphone (20 frames, 144x176), sigma 30" in out
    assert "embedded-corpus-heldout: pens (20 frames, 144x176), sigma 30" in out
    assert [p.name for p in bench.save_figures(loaded, tmp_path)] == [
        "psnr_vs_minutes_embedded-corpus-heldout_sigma30.png",
        "psnr_vs_minutes_embedded-srgb-test_sigma30.png",
    ]


def test_a_start_model_is_a_method_of_its_own(bench):
    start = Path("results/start/cpu-start/model.pt")
    assert bench.variant("cpu-fit", ["train.lr=5e-4"]) == "cpu-fit train.lr=5e-4"
    assert bench.variant("cpu-fit", ["train.lr=5e-4"], start) == "from-cpu-start train.lr=5e-4"
    assert bench.variant("cpu-fit", [], Path("pre.pt")) == "from-pre"
    args = SimpleNamespace(checkpoint=start, preset="cpu-fit")
    assert bench.model_args(args) == ["--checkpoint", str(start)]
    assert bench.model_args(SimpleNamespace(checkpoint=None, preset="cpu-fit")) == ["--preset", "cpu-fit"]
