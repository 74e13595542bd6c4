"""benchmarks/gpu_check.py keeps working where there is no GPU: its tiny CPU run covers every check and path."""

import json
import sys
from pathlib import Path

import pytest

BENCHMARKS = Path(__file__).resolve().parents[2] / "benchmarks"


@pytest.fixture(scope="module")
def run(tmp_path_factory):
    sys.path.insert(0, str(BENCHMARKS))
    try:
        import gpu_check
    finally:
        sys.path.remove(str(BENCHMARKS))
    out = tmp_path_factory.mktemp("gpu_check")
    code = gpu_check.main(["--device", "cpu", "--scale", "tiny", "--parts", "agreement,training,inference",
                           "--out", str(out)])
    return code, json.loads((out / "gpu_check.json").read_text()), gpu_check


def test_every_agreement_check_runs_and_passes(run):
    code, data, _ = run
    checks = {row["check"]: row for row in data["agreement"]}
    expected = {"DIS flow", "PWC-Net flow (seed-0 weights)", "warp nearest", "warp bilinear",
                "network forward (sRGB)", "network forward (raw)", "loss (Gaussian NLL, float64)", "gradients",
                "loss after one Adam step", "stbn denoise --fit-steps 4 (cpu-fit)"}
    expected |= {f"inference: {name}" for name in ("whole clip", "streaming + spill", "streaming + recompute",
                                                   "streaming + tiles", "time ensemble", "shift ensemble 2x2")}
    assert set(checks) == expected
    assert all(row["ok"] and row["tol"] >= 0 and row["why"] for row in checks.values())
    assert code == 0


def test_training_rows_cover_every_job_and_variant(run):
    _, data, gpu_check = run
    timed = {(row["job"], row["variant"]) for row in data["training"] if row.get("s_per_step", 0) > 0}
    assert {("sRGB", v) for v in gpu_check.TRAIN_VARIANTS} <= timed
    assert ("sRGB flow distillation", "bf16 + channels-last") in timed
    assert ("raw", "fp32 (TF32 off)") in timed
    assert not [row for row in data["training"] if "error" in row]


def test_inference_rows_and_the_projection(run):
    _, data, gpu_check = run
    rows = {row["path"]: row for row in data["inference"]}
    for name in gpu_check.INFER_RUNS:
        assert rows[name]["s_per_frame"] > 0 and rows[name]["psnr"] > 0
    # streaming is exact against the whole clip at the same precision
    assert rows["streaming + spill, TF32"]["max_abs_vs_whole_clip"] < 1e-5
    assert rows["streaming + recompute, TF32"]["max_abs_vs_whole_clip"] < 1e-5
    totals = [row for row in data["projection"] if row["job"] == "whole DAG"]
    assert len(totals) == 2 and all(row["gpu_h"] > 0 for row in totals)
    jobs = [row for row in data["projection"] if row["job"] != "whole DAG"]
    assert {row["kind"] for row in jobs} == {"sRGB", "sRGB flow distillation", "raw"}
    assert not [row for row in data["projection"] if "error" in row]
