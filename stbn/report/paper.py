"""The paper's numbers, loaded from ``paper.yaml``: every row of its Tables 1-4, one cell per level."""

from __future__ import annotations

import math
from dataclasses import dataclass
from importlib import resources
from pathlib import Path

import yaml

from stbn.errors import StbnError

AVG = "avg"


@dataclass(frozen=True)
class PaperCell:
    """One cell of a paper table; ``psnr``/``ssim`` are NaN where the paper prints "-"."""

    table: int
    dataset: str
    method: str
    level: float | str
    psnr: float
    ssim: float
    cell: str
    source: str
    category: str = ""


def _number(value: object, where: str) -> float:
    if value is None:
        return math.nan
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise StbnError(f"{where}: expected a number or null, got {value!r}")
    return float(value)


def _read(path: str | Path | None) -> tuple[dict, str]:
    packaged = resources.files("stbn.report").joinpath("paper.yaml")
    text = Path(path).read_text() if path is not None else packaged.read_text()
    source = str(path or "stbn/report/paper.yaml")
    data = yaml.safe_load(text)
    if not isinstance(data, dict) or not isinstance(data.get("tables"), dict):
        raise StbnError(f"{source}: expected a mapping with the paper's tables under 'tables'")
    return data, source


def dataset_aliases(path: str | Path | None = None) -> dict[str, str]:
    """Lower-case dataset names a run may use -> the paper's name (``datasets`` of ``paper.yaml``)."""
    data, source = _read(path)
    aliases = data.get("datasets") or {}
    if not isinstance(aliases, dict) or not all(isinstance(v, list) for v in aliases.values()):
        raise StbnError(f"{source}: 'datasets' must map each paper dataset to a list of names")
    return {str(alias).lower(): str(name) for name, names in aliases.items() for alias in [name, *names]}


def _level(value: object, where: str) -> float | str:
    if value == AVG:
        return AVG
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise StbnError(f"{where}: a level is a number or '{AVG}', got {value!r}")
    return float(value)


def _values(row: dict, key: str, n: int, where: str) -> list[float]:
    values = row.get(key)
    if values is None:
        return [math.nan] * n
    if not isinstance(values, list) or len(values) != n:
        raise StbnError(f"{where}: {key} must be null or a list of {n} values, one per level")
    return [_number(v, f"{where}: {key}") for v in values]


def load_paper(path: str | Path | None = None) -> list[PaperCell]:
    """Every cell of ``paper.yaml`` (the packaged file unless ``path`` is given), validated."""
    data, source = _read(path)
    origin = str(data.get("source", source))
    cells = []
    for number, table in data["tables"].items():
        where = f"{source}: tables.{number}"
        if not isinstance(table, dict) or not {"cell", "levels", "rows"} <= set(table):
            raise StbnError(f"{where}: needs cell, levels and rows")
        levels = [_level(v, f"{where}.levels") for v in table["levels"]]
        for i, row in enumerate(table["rows"]):
            at = f"{where}.rows[{i}]"
            missing = {"dataset", "category", "method", "psnr"} - set(row or {})
            if missing:
                raise StbnError(f"{at}: missing {', '.join(sorted(missing))}")
            psnrs = _values(row, "psnr", len(levels), at)
            ssims = _values(row, "ssim", len(levels), at)
            for level, p, s in zip(levels, psnrs, ssims):
                cells.append(PaperCell(
                    table=int(number),
                    dataset=str(row["dataset"]),
                    method=str(row["method"]),
                    level=level,
                    psnr=p,
                    ssim=s,
                    cell=f"{table['cell']}, {row['dataset']}, {row['method']}, "
                    + ("average" if level == AVG else f"level {level:g}"),
                    source=origin,
                    category=str(row["category"]),
                ))
    return cells


def paper_table(number: int, path: str | Path | None = None) -> list[PaperCell]:
    """The cells of paper table ``number``, in the paper's row order."""
    return [c for c in load_paper(path) if c.table == number]


def paper_cell(table: int, dataset: str, method: str, level: float | str,
               cells: list[PaperCell] | None = None) -> PaperCell | None:
    """The cell of ``method`` on ``dataset`` at ``level`` in paper table ``table``, or None."""
    for c in cells if cells is not None else load_paper():
        if (c.table, c.dataset.lower(), c.method, c.level) == (table, dataset.lower(), method, level):
            return c
    return None
