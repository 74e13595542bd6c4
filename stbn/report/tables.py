"""The paper's tables rebuilt from this run's per-frame metric files, with the paper's cells beside them.

Every table has the same shape: one row per (dataset, method, source) and one column per noise level
(sigma or ISO) plus their average, each cell ``PSNR / SSIM``. ``source`` is ``paper`` (values from
``paper.yaml``), ``this run`` (aggregated from ``frames.csv``) or ``Δ this run − paper`` (only where this
run evaluated the paper's dataset and the run is mapped to a paper row). Extra per-run columns
(parameters, multiply-accumulates, seconds per frame) are appended for the variants table.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from pathlib import Path

from stbn.errors import StbnError
from stbn.report.paper import AVG, PaperCell, dataset_aliases, paper_table
from stbn.report.render import Table
from stbn.report.runs import RunKey, Score, parse_key, read_score

#: Table name -> (paper table number or None, title).
TABLES: dict[str, tuple[int | None, str]] = {
    "table1": (1, "Table 1: synthetic AWGN (sRGB), PSNR (dB) / SSIM per noise level"),
    "table2": (2, "Table 2: real raw noise, raw-domain PSNR (dB) / SSIM per ISO"),
    "table3": (3, "Table 3: ablation at sigma 30, components added one after the other"),
    "table4": (4, "Table 4: trained on the test sequences (the ER2R / 'Ours_s' protocol)"),
    "variants": (None, "Model variants: quality per noise level, size, cost and speed"),
}
PAPER, THIS_RUN, DELTA = "paper", "this run", "Δ this run − paper"
NA = "n/a"


def _level_name(level: float | str) -> str:
    if level == AVG:
        return AVG
    return str(int(level)) if float(level).is_integer() else str(level)


def _level_header(axis: str, level: float | str) -> str:
    if level == AVG:
        return "avg"
    return f"σ={_level_name(level)}" if axis == "sigma" else f"ISO {_level_name(level)}"


def _cell(psnr: float, ssim: float, signed: bool = False) -> str:
    if math.isnan(psnr) and math.isnan(ssim):
        return NA
    p = NA if math.isnan(psnr) else (f"{psnr:+.2f}" if signed else f"{psnr:.2f}")
    s = NA if math.isnan(ssim) else (f"{ssim:+.4f}" if signed else f"{ssim:.4f}")
    return f"{p} / {s}"


def _extra_text(value: object) -> str:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return NA
    if isinstance(value, int):
        return f"{value:,}"
    return f"{value:.3g}" if isinstance(value, float) else str(value)


def _mean(values: list[float]) -> float:
    return sum(values) / len(values) if values else math.nan


class _Builder:
    """Collects rows of one table in display order and their numeric records."""

    def __init__(self, axis: str, levels: list[float | str], extras: list[str]) -> None:
        self.axis, self.levels, self.extras = axis, levels, extras
        self.header = ["dataset", "method", "source"] + [_level_header(axis, lv) for lv in levels] + extras
        self.rows: list[list[str]] = []
        self.records: list[dict[str, object]] = []

    def add(
        self,
        dataset: str,
        method: str,
        source: str,
        values: Mapping[float | str, tuple[float, float]],
        extra: Mapping[str, object] | None = None,
    ) -> None:
        record: dict[str, object] = {"dataset": dataset, "method": method, "source": source}
        cells = []
        for lv in self.levels:
            p, s = values.get(lv, (math.nan, math.nan))
            record[f"psnr_{_level_name(lv)}"], record[f"ssim_{_level_name(lv)}"] = p, s
            cells.append(_cell(p, s, signed=source == DELTA))
        extra = extra or {}
        record.update({name: extra.get(name) for name in self.extras})
        self.records.append(record)
        self.rows.append([dataset, method, source] + cells + [_extra_text(extra.get(n)) for n in self.extras])


def _run_values(scores: Mapping[RunKey, Score], run: str, dataset: str, levels: list[float | str]) -> dict:
    values: dict[float | str, tuple[float, float]] = {
        k.level: (s.psnr, s.ssim) for k, s in scores.items() if k.run == run and k.dataset == dataset
    }
    numeric = [lv for lv in levels if lv != AVG]
    if AVG in levels and len(numeric) > 1 and all(lv in values for lv in numeric):
        values[AVG] = (_mean([values[lv][0] for lv in numeric]), _mean([values[lv][1] for lv in numeric]))
    return values


def _parse_inputs(name: str, inputs: Sequence[str | Path], paper_methods: Mapping[str, str]) -> list[RunKey]:
    """The run keys of ``inputs``, checked: one kind of level, no evaluation twice, mapped runs exist."""
    keys = [parse_key(p) for p in inputs]
    if len({k.axis for k in keys}) > 1:
        raise StbnError(f"table {name}: inputs mix sigma and ISO levels")
    if len(set(keys)) < len(keys):
        dup = next(k for k in keys if keys.count(k) > 1)
        raise StbnError(f"table {name}: {dup.run}/{dup.dataset} at {dup.axis} {_level_name(dup.level)} is given twice")
    unknown = sorted(set(paper_methods) - {k.run for k in keys})
    if unknown:
        raise StbnError(f"table {name}: --paper-method names runs that have no input: {', '.join(unknown)}")
    return keys


def build_table(
    name: str,
    inputs: Sequence[str | Path],
    paper_methods: Mapping[str, str] | None = None,
    extras: Mapping[str, Mapping[str, object]] | None = None,
    paper: Sequence[PaperCell] | None = None,
    aliases: Mapping[str, str] | None = None,
) -> Table:
    """Build table ``name`` (see :data:`TABLES`) from ``frames.csv`` files laid out as
    ``.../<group>/<name>/<dataset>/sigma<s>|iso<i>/frames.csv`` (the run is ``<group>/<name>``).

    ``paper_methods`` maps a run name to the paper row it reproduces (for the Δ rows); ``extras`` maps a
    run name to extra columns (name -> value). ``paper`` and ``aliases`` (lower-case run dataset name ->
    paper dataset) override the packaged ``paper.yaml``. A run's dataset is grouped with the paper's when
    its name is an alias of it. A ``s/frame`` column (mean wall time per frame of the run's
    evaluations) is always appended.
    """
    if name not in TABLES:
        raise StbnError(f"unknown table {name!r} (known: {', '.join(TABLES)})")
    if not inputs:
        raise StbnError(f"table {name}: no input metric files")
    number, title = TABLES[name]
    paper_methods = dict(paper_methods or {})
    extras = dict(extras or {})
    cells = list(paper) if paper is not None else (paper_table(number) if number is not None else [])
    aliases = dict(dataset_aliases() if aliases is None else aliases)

    def group_of(dataset: str) -> str:
        return aliases.get(dataset.lower(), dataset).lower()

    keys = _parse_inputs(name, inputs, paper_methods)
    scores = {k: read_score(p) for k, p in zip(keys, inputs)}
    axis = keys[0].axis
    numeric = sorted({k.level for k in keys})
    has_avg = len(numeric) > 1 or any(c.level == AVG for c in cells)
    levels: list[float | str] = list(numeric) + ([AVG] if has_avg else [])
    same_levels = set(numeric) == {c.level for c in cells if c.level != AVG}
    extra_names = list(dict.fromkeys(n for e in extras.values() for n in e)) + ["s/frame"]
    table = _Builder(axis, levels, extra_names)

    runs = list(dict.fromkeys(k.run for k in keys))
    groups = list(dict.fromkeys([c.dataset.lower() for c in cells] + [group_of(k.dataset) for k in keys]))
    for group in groups:
        paper_here = [c for c in cells if c.dataset.lower() == group]
        by_method: dict[str, dict[float | str, tuple[float, float]]] = {}
        for c in paper_here:
            by_method.setdefault(c.method, {})[c.level] = (c.psnr, c.ssim)
        for method, values in by_method.items():
            table.add(paper_here[0].dataset, method, PAPER, values)
        for run in runs:
            for dataset in dict.fromkeys(k.dataset for k in keys if k.run == run and group_of(k.dataset) == group):
                values = _run_values(scores, run, dataset, levels)
                timed = [s.seconds_per_frame for k, s in scores.items() if k.run == run and k.dataset == dataset]
                seconds = _mean([t for t in timed if t is not None])
                table.add(dataset, run, THIS_RUN, values, {**extras.get(run, {}), "s/frame": seconds})
                reference = by_method.get(paper_methods.get(run, ""))
                if reference:
                    comparable = [lv for lv in levels if lv != AVG or same_levels]
                    delta = {lv: (values[lv][0] - reference[lv][0], values[lv][1] - reference[lv][1])
                             for lv in comparable if lv in values and lv in reference}
                    table.add(dataset, f"{run} vs {paper_methods[run]}", DELTA, delta)
    notes = [
        "PSNR in dB / SSIM; this run's values are means over frames, then sequences, of frames.csv",
        f"{NA}: not available (paper: not quoted in the sources at hand, see stbn/report/paper.yaml; "
        "this run: not evaluated at that level)",
    ]
    if has_avg:
        notes.append(
            "avg: mean over the levels listed (only for rows evaluated at all of them); "
            "its Δ is shown only when this run's levels are the paper's"
        )
    return Table(title, table.header, table.rows, table.records, notes)
