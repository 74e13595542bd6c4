"""paper.yaml holds every cell of the paper's Tables 1-4, checked against the project's transcription."""

from __future__ import annotations

import csv
import math
from pathlib import Path

import pytest

from stbn.errors import StbnError
from stbn.report.paper import AVG, load_paper, paper_cell

TRANSCRIPTION = Path(__file__).resolve().parents[1] / "fixtures" / "paper_tables.csv"


def _level(text: str) -> float | str:
    return AVG if text == AVG else float(text)


def _value(text: str) -> float:
    return math.nan if text == "" else float(text)


def test_every_cell_of_the_transcription_is_in_paper_yaml_and_nothing_else() -> None:
    expected = {}
    with TRANSCRIPTION.open(newline="") as handle:
        for row in csv.DictReader(handle):
            key = (int(row["table"]), row["dataset"], row["method"], _level(row["level"]))
            expected[key] = (row["category"], _value(row["psnr"]), _value(row["ssim"]))
    cells = load_paper()
    got = {(c.table, c.dataset, c.method, c.level): (c.category, c.psnr, c.ssim) for c in cells}
    assert len(got) == len(cells), "a paper cell is listed twice"
    assert set(got) == set(expected)
    for key, (category, psnr, ssim) in expected.items():
        assert got[key][0] == category, key
        assert got[key][1] == psnr, key  # every PSNR is printed
        assert got[key][2] == ssim or (math.isnan(ssim) and math.isnan(got[key][2])), key
    assert all(c.source.startswith("arXiv:2412.11820") for c in cells)


def test_every_row_of_each_table_with_the_compared_methods() -> None:
    cells = load_paper()
    rows = {t: {(c.dataset, c.method) for c in cells if c.table == t} for t in (1, 2, 3, 4)}
    assert len(rows[1]) == 16 and len(rows[2]) == 8 and len(rows[3]) == 4 and len(rows[4]) == 11
    assert ("Set8", "VBM4D") in rows[1] and ("CRVD", "RViDeNet") in rows[2] and ("Set8", "VRT") in rows[4]
    cell = paper_cell(4, "set8", "STBN_s", 30.0)
    assert cell is not None and (cell.psnr, cell.ssim) == (33.77, 0.9212)
    assert paper_cell(1, "Set8", "STBN", AVG).psnr == 33.32
    assert paper_cell(1, "Set8", "BM3D", 30.0) is None


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("entries: []\n", "under 'tables'"),
        ("tables: {1: {cell: T1, levels: [30], rows: [{dataset: Set8, method: X, category: c, psnr: [high]}]}}\n",
         "expected a number"),
        ("tables: {1: {cell: T1, levels: [30, avg], rows: [{dataset: Set8, method: X, category: c, psnr: [1]}]}}\n",
         "list of 2 values"),
        ("tables: {1: {cell: T1, levels: [30], rows: [{dataset: Set8, psnr: [1]}]}}\n", "missing category, method"),
        ("tables: {1: {cell: T1, levels: [high], rows: []}}\n", "a level is a number"),
    ],
)
def test_paper_yaml_errors_are_named(tmp_path: Path, text: str, message: str) -> None:
    bad = tmp_path / "paper.yaml"
    bad.write_text(text)
    with pytest.raises(StbnError, match=message):
        load_paper(bad)
