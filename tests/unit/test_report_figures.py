"""Figures are drawn from the run's files (logs, metric files, samples) and written as PNG and PDF."""

from __future__ import annotations

import csv
import json
import math
from pathlib import Path

import numpy as np
import pytest
from skimage import data

from stbn.cli import main
from stbn.config import preset
from stbn.data.io import write_frames
from stbn.report.figures import log_time_crossing, log_time_fit


def write_log(folder: Path, rows: list[tuple[int, str]]) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / "log.csv"
    with path.open("w", newline="") as f:
        w = csv.writer(f)
        w.writerow(["step", "loss", "lr", "val_psnr"])
        w.writerows([(step, 1.0, 1e-3, val) for step, val in rows])
    return path


def write_metrics(folder: Path, psnr: float, ssim: float = 0.8) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "frames.csv").write_text(f"sequence,frame,psnr,ssim\na,0,{psnr},{ssim}\nb,0,{psnr},{ssim}\n")
    return folder / "frames.csv"


def assert_written(prefix: Path) -> None:
    png, pdf = prefix.with_suffix(".png"), prefix.with_suffix(".pdf")
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and pdf.read_bytes()[:5] == b"%PDF-"


def test_log_time_fit_recovers_a_logarithmic_trend() -> None:
    x = [1.0, 2.0, 4.0, 8.0, 16.0, 32.0]
    y = [20 + 2 * math.log(t) for t in x]
    a, b = log_time_fit(x, y)
    assert (a, b) == pytest.approx((20.0, 2.0))
    assert log_time_crossing(x, y, 30.0) == pytest.approx(math.exp(5.0))
    assert log_time_crossing(x, [30 - v for v in y], 5.0) is None  # a falling trend never gets there
    assert log_time_fit(x[:2], y[:2]) is None  # two points: any line fits, no trend is claimed
    # only the later half counts: an early plateau does not drag the trend
    assert log_time_fit(x, [25.0, 25.0, 25.0] + y[3:]) == pytest.approx((20.0, 2.0))


def test_figure4_needs_no_inputs(tmp_path: Path) -> None:
    assert main(["figure", "figure4", "--out", str(tmp_path / "figure4")]) == 0
    assert_written(tmp_path / "figure4")
    assert main(["figure", "figure4", "--inputs", "x.csv", "--out", str(tmp_path / "f")]) == 2


def test_figure7_from_training_logs(tmp_path: Path) -> None:
    models = tmp_path / "results" / "models" / "alignment"
    logs = [write_log(models / v / "sigma30", [(1, ""), (50, "24.5"), (100, "26.0")]) for v in ("nearest", "bilinear")]
    assert main(["figure", "figure7", "--inputs", *map(str, logs), "--out", str(tmp_path / "figure7")]) == 0
    assert_written(tmp_path / "figure7")
    empty = write_log(models / "none" / "sigma30", [(1, ""), (2, "")])
    assert main(["figure", "figure7", "--inputs", str(empty), "--out", str(tmp_path / "x")]) == 2


def test_figure10_reads_lambda_from_the_model_configs(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    inputs, configs = [], []
    for i, (name, lam, enabled) in enumerate((("off", 5e-4, False), ("small", 5e-5, True), ("paper", 5e-4, True))):
        cfg = preset("tiny")
        cfg.flow.estimator = "pwcnet"
        cfg.flow.distill.enabled, cfg.flow.distill.lam = enabled, lam
        folder = tmp_path / "models" / "distill" / name / "sigma30"
        folder.mkdir(parents=True)
        (folder / "config.json").write_text(json.dumps(cfg.model_dump(mode="json")))
        configs.append(folder / "config.json")
        inputs.append(write_metrics(tmp_path / "eval" / "distill" / name / "set" / "sigma30", 28.0 + i))
    argv = ["figure", "figure10", "--inputs", *map(str, inputs), "--configs", *map(str, configs)]
    assert main([*argv, "--out", str(tmp_path / "figure10")]) == 0
    assert_written(tmp_path / "figure10")
    lines = capsys.readouterr().out.splitlines()
    assert lines[:3] == ["lambda 0: PSNR 28.0000 SSIM 0.8000", "lambda 5e-05: PSNR 29.0000 SSIM 0.8000",
                         "lambda 0.0005: PSNR 30.0000 SSIM 0.8000"]
    assert main([*argv[:-1], "--out", str(tmp_path / "x")]) == 2  # one config short


def write_samples(root: Path, run: str, noisy: np.ndarray, out: np.ndarray, clean: np.ndarray) -> Path:
    folder = root / run / "set" / "sigma30" / "samples"
    write_frames([np.concatenate([noisy, out, clean], axis=1)], folder / "astronaut")
    return folder


def test_visual_comparison_checks_the_noisy_frames_match(tmp_path: Path) -> None:
    clean = data.astronaut()[::4, ::4].astype(np.float32) / 255.0
    rng = np.random.default_rng(0)
    noisy = np.clip(clean + rng.normal(0, 0.1, clean.shape), 0, 1).astype(np.float32)
    stbn = write_samples(tmp_path, "main/stbn", noisy, np.clip(clean + 0.02, 0, 1), clean)
    bm3d = write_samples(tmp_path / "b", "baselines/bm3d", noisy, np.clip(clean - 0.03, 0, 1), clean)
    assert main(["figure", "visual", "--inputs", str(bm3d), str(stbn), "--out", str(tmp_path / "visual")]) == 0
    assert_written(tmp_path / "visual")
    other = write_samples(tmp_path / "c", "baselines/nlm", np.clip(noisy + 0.1, 0, 1), clean, clean)
    assert main(["figure", "visual", "--inputs", str(stbn), str(other), "--out", str(tmp_path / "x")]) == 2


def test_budget_against_the_best_baseline(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    log = write_log(tmp_path / "models" / "main" / "stbn" / "sigma30",
                    [(s, f"{20 + 2 * math.log(s):.4f}") for s in (50, 100, 200, 400)])
    bench = tmp_path / "bench.tsv"
    bench.write_text("s\th:m:s\tmax_rss\n480.0\t0:08:00\t1000\n")
    final = write_metrics(tmp_path / "eval" / "main" / "stbn" / "set" / "sigma30", 32.0)
    baselines = [write_metrics(tmp_path / "baselines" / m / "set" / "sigma30", v)
                 for m, v in (("bm3d", 34.0), ("noisy", 18.0))]
    argv = ["figure", "budget", "--inputs", str(log), "--times", str(bench), "--final", str(final),
            "--baselines", *map(str, baselines), "--out", str(tmp_path / "budget")]
    assert main(argv) == 0
    assert_written(tmp_path / "budget")
    out = capsys.readouterr().out
    # 400 steps took 8 minutes: step s is at s/50 minutes; the trend 20 + 2 ln(50 t) reaches 34 dB at
    # t = e^7 / 50 minutes
    assert f"best {20 + 2 * math.log(400):.2f} dB vs baselines/bm3d 34.00 dB" in out
    assert f"trend reaches it at {math.exp(7) / 50:.3g} minutes" in out
    assert main([*argv[:4], "--out", str(tmp_path / "x")]) == 2  # no time source for the log
