"""Tables are read from frames.csv (frames -> sequence -> dataset), with the paper's cells beside them."""

from __future__ import annotations

import csv
import json
import math
from pathlib import Path

import pytest

from stbn.errors import StbnError
from stbn.report.paper import AVG, PaperCell
from stbn.report.render import tex_escape
from stbn.report.runs import parse_key, read_score
from stbn.report.tables import DELTA, PAPER, THIS_RUN, build_table


def write_frames(root: Path, run: str, dataset: str, level: str, rows: list[tuple[str, float, float]],
                 seconds: float | None = None) -> Path:
    """Write ``root/run/dataset/level/frames.csv`` with one row per (sequence, psnr, ssim)."""
    folder = root / run / dataset / level
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / "frames.csv"
    with path.open("w", newline="") as f:
        w = csv.writer(f)
        w.writerow(["sequence", "frame", "psnr", "ssim"] + (["seconds"] if seconds is not None else []))
        for i, (seq, p, s) in enumerate(rows):
            w.writerow([seq, i, p, s] + ([seconds] if seconds is not None else []))
    return path


def cell(table, method: str, source: str, column: str) -> str:
    row = next(r for r in table.rows if r[1] == method and r[2] == source)
    return row[table.header.index(column)]


PAPER_CELLS = [
    PaperCell(1, "Set8", "STBN", 30.0, 32.76, 0.9072, "Table 1, Set8, sigma=30", "test"),
    PaperCell(1, "Set8", "STBN", 10.0, math.nan, math.nan, "Table 1, Set8, sigma=10", "test"),
    PaperCell(1, "Set8", "STBN", AVG, 33.32, 0.9087, "Table 1, Set8, avg", "test"),
]


def test_score_is_a_mean_of_sequence_means_not_of_frames(tmp_path: Path) -> None:
    # sequence a: 3 frames at 30 dB, sequence b: 1 frame at 34 dB -> (30 + 34) / 2 = 32, not 31
    path = write_frames(tmp_path, "main/stbn", "set8", "sigma30",
                        [("a", 30.0, 0.8), ("a", 30.0, 0.8), ("a", 30.0, 0.8), ("b", 34.0, 0.9)], seconds=0.25)
    score = read_score(path)
    assert score.psnr == pytest.approx(32.0)
    assert score.ssim == pytest.approx(0.85)
    assert score.frames == 4 and score.seconds_per_frame == pytest.approx(0.25)
    assert parse_key(path.parent) == parse_key(path)
    assert (parse_key(path).run, parse_key(path).dataset, parse_key(path).axis, parse_key(path).level) == (
        "main/stbn", "set8", "sigma", 30.0)


def test_seconds_per_frame_from_the_evaluation_summary(tmp_path: Path) -> None:
    path = write_frames(tmp_path, "main/stbn", "set8", "sigma30", [("a", 30.0, 0.8), ("a", 31.0, 0.8)])
    assert read_score(path).seconds_per_frame is None
    (path.parent / "summary.json").write_text(json.dumps({"seconds": 3.0}))
    assert read_score(path).seconds_per_frame == pytest.approx(1.5)
    (path.parent / "summary.json").write_text(json.dumps({"seconds": 3.0, "seconds_per_frame": 0.5}))
    assert read_score(path).seconds_per_frame == pytest.approx(0.5)
    (path.parent / "summary.json").write_text("[1, 2]")
    with pytest.raises(StbnError, match="not a JSON object"):
        read_score(path)


def test_paper_beside_this_run_with_delta_and_na(tmp_path: Path) -> None:
    inputs = [
        write_frames(tmp_path, "main/stbn", "set8", f"sigma{s}", [("a", 30.0 + s / 10, 0.9), ("b", 30.0 + s / 10, 0.9)])
        for s in (10, 30)
    ]
    inputs.append(write_frames(tmp_path, "baselines/bm3d", "set8", "sigma30", [("a", 29.0, 0.85)], seconds=2.0))
    table = build_table("table1", inputs, paper_methods={"main/stbn": "STBN"}, paper=PAPER_CELLS)
    assert table.header[3:] == ["σ=10", "σ=30", "avg", "s/frame"]
    assert cell(table, "STBN", PAPER, "σ=30") == "32.76 / 0.9072"
    assert cell(table, "STBN", PAPER, "σ=10") == "n/a"
    assert cell(table, "main/stbn", THIS_RUN, "σ=30") == "33.00 / 0.9000"
    assert cell(table, "main/stbn", THIS_RUN, "avg") == "32.00 / 0.9000"
    assert cell(table, "main/stbn vs STBN", DELTA, "σ=30") == "+0.24 / -0.0072"
    # this run's levels (10, 30) are the paper cells' levels, so the average gets a delta too
    assert cell(table, "main/stbn vs STBN", DELTA, "avg") == "-1.32 / -0.0087"
    assert cell(table, "baselines/bm3d", THIS_RUN, "σ=10") == "n/a"
    assert cell(table, "baselines/bm3d", THIS_RUN, "avg") == "n/a"
    assert cell(table, "baselines/bm3d", THIS_RUN, "s/frame") == "2"
    record = next(r for r in table.records if r["method"] == "main/stbn" and r["source"] == THIS_RUN)
    assert record["psnr_30"] == pytest.approx(33.0) and record["ssim_avg"] == pytest.approx(0.9)


def test_no_delta_on_another_dataset_and_paper_rows_kept(tmp_path: Path) -> None:
    inputs = [write_frames(tmp_path, "main/stbn", "embedded", "sigma30", [("a", 28.0, 0.8)])]
    table = build_table("table1", inputs, paper_methods={"main/stbn": "STBN"}, paper=PAPER_CELLS)
    assert [r[2] for r in table.rows] == [PAPER, THIS_RUN]
    assert [r[0] for r in table.rows] == ["Set8", "embedded"]


def test_a_run_dataset_named_like_the_paper_set_gets_its_delta(tmp_path: Path) -> None:
    """The paper preset names DAVIS test-dev `davis-test`: paper.yaml's aliases group it with DAVIS."""
    inputs = [write_frames(tmp_path, "main/stbn", "davis-test", "sigma30", [("a", 35.5, 0.94)])]
    table = build_table("table1", inputs, paper_methods={"main/stbn": "STBN"})
    rows = list(dict.fromkeys((r[0], r[2]) for r in table.rows))
    assert rows == [("Set8", PAPER), ("DAVIS", PAPER), ("davis-test", THIS_RUN), ("davis-test", DELTA)]
    # every row of the paper's Table 1, the compared methods included, comes before the DAVIS run
    assert [r[1] for r in table.rows if r[0] == "DAVIS"] == [
        "VBM4D", "DVDnet", "FastDVDnet", "FloRNN", "UDVD", "RDRF", "ER2Rs", "STBN"]
    assert cell(table, "main/stbn vs STBN", DELTA, "σ=30") == "-0.50 / -0.0054"
    other = build_table("table1", inputs, paper_methods={"main/stbn": "STBN"}, aliases={})
    assert DELTA not in [r[2] for r in other.rows]


def test_changing_a_metric_file_changes_the_table(tmp_path: Path) -> None:
    """Acceptance 3: the numbers come from frames.csv, through the CLI, into all three formats."""
    from stbn.cli import main

    path = write_frames(tmp_path / "eval", "main/stbn", "embedded", "sigma30", [("a", 27.5, 0.8), ("b", 28.5, 0.9)])
    prefix = tmp_path / "tables" / "table1"
    argv = ["table", "table1", "--inputs", str(path), "--out", str(prefix)]
    assert main(argv) == 0
    before = {ext: prefix.with_suffix(ext).read_text() for ext in (".csv", ".md", ".tex")}
    assert "28.00 / 0.8500" in before[".md"] and "28.00 / 0.8500" in before[".tex"]

    write_frames(tmp_path / "eval", "main/stbn", "embedded", "sigma30", [("a", 30.5, 0.8), ("b", 28.5, 0.9)])
    assert main(argv) == 0
    after = {ext: prefix.with_suffix(ext).read_text() for ext in (".csv", ".md", ".tex")}
    assert "29.50 / 0.8500" in after[".md"] and "29.50 / 0.8500" in after[".tex"]
    assert "28.00 / 0.8500" not in after[".md"]
    row = next(r for r in csv.DictReader(after[".csv"].splitlines()) if r["source"] == THIS_RUN)
    assert float(row["psnr_30"]) == pytest.approx(29.5)


@pytest.mark.parametrize(
    ("content", "message"),
    [
        ("sequence,frame,psnr\na,0,30\n", "missing column"),
        ("sequence,frame,psnr,ssim\n", "no frames"),
        ("sequence,frame,psnr,ssim\na,0,thirty,0.9\n", "must be numbers"),
    ],
)
def test_malformed_metric_files_are_named(tmp_path: Path, content: str, message: str) -> None:
    folder = tmp_path / "main" / "stbn" / "set8" / "sigma30"
    folder.mkdir(parents=True)
    (folder / "frames.csv").write_text(content)
    with pytest.raises(StbnError, match=message):
        build_table("table1", [folder / "frames.csv"])


def test_bad_inputs_are_user_errors(tmp_path: Path) -> None:
    a = write_frames(tmp_path, "main/stbn", "set8", "sigma30", [("a", 30.0, 0.9)])
    b = write_frames(tmp_path, "main/stbn", "crvd", "iso1600", [("a", 40.0, 0.9)])
    with pytest.raises(StbnError, match="unknown table"):
        build_table("table9", [a])
    with pytest.raises(StbnError, match="mix sigma and ISO"):
        build_table("table1", [a, b])
    with pytest.raises(StbnError, match="given twice"):
        build_table("table1", [a, a.parent])
    with pytest.raises(StbnError, match="no input"):
        build_table("table1", [a], paper_methods={"other": "STBN"})
    with pytest.raises(StbnError, match="expected a metric file"):
        build_table("table1", [tmp_path / "frames.csv"])
    with pytest.raises(StbnError, match="not found"):
        build_table("table1", [tmp_path / "x" / "y" / "set8" / "sigma30"])


def test_raw_table_has_iso_columns_and_the_paper_average(tmp_path: Path) -> None:
    inputs = [write_frames(tmp_path, "raw/stbn", "embedded-raw", f"iso{i}", [("scene1", 40.0 + k, 0.95)])
              for k, i in enumerate((1600, 3200))]
    table = build_table("table2", inputs)
    assert table.header[3:] == ["ISO 1600", "ISO 3200", "avg", "s/frame"]
    assert cell(table, "raw/stbn", THIS_RUN, "avg") == "40.50 / 0.9500"
    assert cell(table, "STBN", PAPER, "ISO 1600") == "49.27 / 0.9988"
    assert cell(table, "ER2Rp", PAPER, "ISO 1600") == "49.14 / -", "a value the paper does not print is '-'"
    assert cell(table, "STBN", PAPER, "avg") == "45.77 / 0.9980"


def test_variants_extras_and_files(tmp_path: Path) -> None:
    from stbn.report.render import write_table

    inputs = [write_frames(tmp_path, f"alignment/{v}", "embedded", "sigma30", [("a", 28.0, 0.8)])
              for v in ("nearest", "bilinear")]
    table = build_table("variants", inputs, extras={"alignment/nearest": {"params": 1234567, "GMAC/frame": 1.5}})
    assert table.header[3:] == ["σ=30", "params", "GMAC/frame", "s/frame"]
    assert cell(table, "alignment/nearest", THIS_RUN, "params") == "1,234,567"
    assert cell(table, "alignment/bilinear", THIS_RUN, "params") == "n/a"
    assert not [r for r in table.rows if r[2] == PAPER]
    paths = write_table(table, tmp_path / "out" / "variants")
    assert [p.name for p in paths] == ["variants.csv", "variants.md", "variants.tex"]
    assert "\\toprule" in paths[2].read_text() and "$\\sigma$=30" in paths[2].read_text()


def test_tex_escape() -> None:
    assert tex_escape("a_b & 50% σ − Δ") == r"a\_b \& 50\% $\sigma$ $-$ $\Delta$"


def test_seeds_are_averaged_and_a_label_names_a_shared_evaluation(tmp_path: Path) -> None:
    seeds = [write_frames(tmp_path, "ablation/srfe", "embedded", f"sigma30/seed{k}", [("a", 28.0 + k, 0.8)])
             for k in (0, 1)]
    assert parse_key(seeds[1]).seed == 1 and parse_key(seeds[1]).run == "ablation/srfe"
    # alignment/nearest is the same trained model as ablation/srfe: its rows read the same files
    inputs = [str(p) for p in seeds] + [f"alignment/nearest={p}" for p in seeds]
    table = build_table("variants", inputs)
    assert cell(table, "ablation/srfe", THIS_RUN, "σ=30") == "28.50 / 0.8000"
    assert cell(table, "alignment/nearest", THIS_RUN, "σ=30") == "28.50 / 0.8000"
    assert cell(table, "alignment/nearest", THIS_RUN, "seeds") == "2"
    with pytest.raises(StbnError, match="seed 1 is given twice"):
        build_table("variants", inputs + [str(seeds[1])])


def test_model_run_names_the_seed_and_honours_a_label() -> None:
    from stbn.report.runs import model_run

    assert model_run("results/models/main/stbn/sigma30/seed1/log.csv") == "main/stbn seed 1"
    assert model_run("alignment/nearest=results/models/ablation/srfe/sigma30/seed0/log.csv") == (
        "alignment/nearest seed 0")
    assert model_run("results/models/main/stbn/sigma30/log.csv") == "main/stbn"
