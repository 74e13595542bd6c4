"""The paper's numbers, loaded from ``paper.yaml`` (each value with its table, cell and source)."""

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
    """One cell of a paper table; ``psnr``/``ssim`` are NaN where the value is not available here."""

    table: int
    dataset: str
    method: str
    level: float | str
    psnr: float
    ssim: float
    cell: str
    source: str


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
    if not isinstance(data, dict) or not isinstance(data.get("entries"), list):
        raise StbnError(f"{source}: expected a mapping with a list under 'entries'")
    return data, source


def dataset_aliases(path: str | Path | None = None) -> dict[str, str]:
    """Lower-case dataset names a run may use -> the paper's name (``datasets`` of ``paper.yaml``)."""
    data, source = _read(path)
    aliases = data.get("datasets") or {}
    if not isinstance(aliases, dict) or not all(isinstance(v, list) for v in aliases.values()):
        raise StbnError(f"{source}: 'datasets' must map each paper dataset to a list of names")
    return {str(alias).lower(): str(name) for name, names in aliases.items() for alias in [name, *names]}


def load_paper(path: str | Path | None = None) -> list[PaperCell]:
    """All entries of ``paper.yaml`` (the packaged file unless ``path`` is given), validated."""
    data, source = _read(path)
    cells = []
    for i, entry in enumerate(data["entries"]):
        where = f"{source}: entries[{i}]"
        missing = {"table", "dataset", "method", "level", "psnr", "ssim", "cell", "source"} - set(entry or {})
        if missing:
            raise StbnError(f"{where}: missing {', '.join(sorted(missing))}")
        level = entry["level"]
        if level != AVG and not isinstance(level, int | float):
            raise StbnError(f"{where}: level must be a number or '{AVG}', got {level!r}")
        cells.append(
            PaperCell(
                table=int(entry["table"]),
                dataset=str(entry["dataset"]),
                method=str(entry["method"]),
                level=level if level == AVG else float(level),
                psnr=_number(entry["psnr"], where),
                ssim=_number(entry["ssim"], where),
                cell=str(entry["cell"]),
                source=str(entry["source"]),
            )
        )
    return cells


def paper_table(number: int, path: str | Path | None = None) -> list[PaperCell]:
    """The entries of paper table ``number``."""
    return [c for c in load_paper(path) if c.table == number]
