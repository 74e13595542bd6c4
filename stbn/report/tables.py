"""The paper's tables rebuilt from this run's per-frame metric files, with the paper's cells beside them.

Every table has the same shape: one row per (dataset, method, source) and one column per noise level
(sigma or ISO) plus their average, each cell ``PSNR / SSIM``. ``source`` is ``paper`` (every row of the
paper's table, from ``paper.yaml``), ``measured`` (this run, aggregated from ``frames.csv``; a trained
model's cell is the mean over its training seeds) or ``Δ measured − paper`` (only where this run
evaluated the paper's dataset and the run is mapped to a paper row). Extra per-run columns (parameters,
multiply-accumulates, seconds per frame, seeds) are appended.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from pathlib import Path

from stbn.errors import StbnError
from stbn.report.paper import AVG, PaperCell, dataset_aliases, paper_table
from stbn.report.render import Table
from stbn.report.runs import RunKey, Score, parse_key, read_score, split_label

#: Table name -> (paper table number or None, title).
TABLES: dict[str, tuple[int | None, str]] = {
    "table1": (1, "Table 1: synthetic AWGN (sRGB), PSNR (dB) / SSIM per noise level"),
    "table2": (2, "Table 2: real raw noise, raw-domain PSNR (dB) / SSIM per ISO"),
    "table3": (3, "Table 3: ablation at sigma 30, components added one after the other"),
    "table4": (4, "Table 4: trained on the test sequences (the ER2R / 'Ours_s' protocol)"),
    "variants": (None, "Model variants: quality per noise level, size, cost and speed"),
}
PAPER, THIS_RUN, DELTA = "paper", "measured", "Δ measured − paper"
NA = "n/a"
NOT_PRINTED = "-"


def _level_name(level: float | str) -> str:
    if level == AVG:
        return AVG
    return str(int(level)) if float(level).is_integer() else str(level)


def _level_header(axis: str, level: float | str) -> str:
    if level == AVG:
        return "avg"
    return f"σ={_level_name(level)}" if axis == "sigma" else f"ISO {_level_name(level)}"


def _cell(psnr: float, ssim: float, signed: bool = False, missing: str = NA) -> str:
    if math.isnan(psnr) and math.isnan(ssim):
        return NA
    p = missing if math.isnan(psnr) else (f"{psnr:+.2f}" if signed else f"{psnr:.2f}")
    s = missing if math.isnan(ssim) else (f"{ssim:+.4f}" if signed else f"{ssim:.4f}")
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
            cells.append(_cell(p, s, signed=source == DELTA, missing=NOT_PRINTED if source == PAPER else NA))
        extra = extra or {}
        record.update({name: extra.get(name) for name in self.extras})
        self.records.append(record)
        self.rows.append([dataset, method, source] + cells + [_extra_text(extra.get(n)) for n in self.extras])


def _run_values(scores: Mapping[RunKey, Score], run: str, dataset: str, levels: list[float | str]) -> dict:
    """``{level: (psnr, ssim)}`` of one run on one dataset, each the mean over its training seeds."""
    per_level: dict[float | str, list[Score]] = {}
    for k, s in scores.items():
        if k.run == run and k.dataset == dataset:
            per_level.setdefault(k.level, []).append(s)
    values: dict[float | str, tuple[float, float]] = {
        lv: (_mean([s.psnr for s in ss]), _mean([s.ssim for s in ss])) for lv, ss in per_level.items()
    }
    numeric = [lv for lv in levels if lv != AVG]
    if AVG in levels and len(numeric) > 1 and all(lv in values for lv in numeric):
        values[AVG] = (_mean([values[lv][0] for lv in numeric]), _mean([values[lv][1] for lv in numeric]))
    return values


def parse_inputs(name: str, inputs: Sequence[str | Path]) -> list[tuple[RunKey, Path]]:
    """``(key, path)`` of each input (``PATH`` or ``LABEL=PATH``), checked: one kind of level, no
    evaluation (run, dataset, level, seed) twice."""
    items = [split_label(p) for p in inputs]
    keys = [(parse_key(path, label), path) for label, path in items]
    if len({k.axis for k, _ in keys}) > 1:
        raise StbnError(f"{name}: inputs mix sigma and ISO levels")
    seen: set[RunKey] = set()
    for k, _ in keys:
        if k in seen:
            seed = "" if k.seed is None else f" seed {k.seed}"
            raise StbnError(f"{name}: {k.run}/{k.dataset} at {k.axis} {_level_name(k.level)}{seed} is given twice")
        seen.add(k)
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
    ``.../<group>/<name>/<dataset>/sigma<s>|iso<i>[/seed<k>]/frames.csv`` (the run is ``<group>/<name>``,
    or ``LABEL`` for an input given as ``LABEL=PATH``); a run's seeds are averaged.

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

    parsed = parse_inputs(f"table {name}", inputs)
    keys = [k for k, _ in parsed]
    unknown = sorted(set(paper_methods) - {k.run for k in keys})
    if unknown:
        raise StbnError(f"table {name}: --paper-method names runs that have no input: {', '.join(unknown)}")
    scores = {k: read_score(p) for k, p in parsed}
    axis = keys[0].axis
    numeric = sorted({k.level for k in keys})
    has_avg = len(numeric) > 1 or any(c.level == AVG for c in cells)
    levels: list[float | str] = list(numeric) + ([AVG] if has_avg else [])
    same_levels = set(numeric) == {c.level for c in cells if c.level != AVG}
    seeds = {run: len({k.seed for k in keys if k.run == run}) for run in {k.run for k in keys}}
    multi_seed = any(k.seed is not None for k in keys) and max(seeds.values()) > 1
    extra_names = list(dict.fromkeys(n for e in extras.values() for n in e)) + ["s/frame"] + ["seeds"] * multi_seed
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
                n_seeds = len({k.seed for k in keys if k.run == run and k.dataset == dataset and k.seed is not None})
                table.add(dataset, run, THIS_RUN, values,
                          {**extras.get(run, {}), "s/frame": seconds, "seeds": n_seeds or None})
                reference = by_method.get(paper_methods.get(run, ""))
                if reference:
                    comparable = [lv for lv in levels if lv != AVG or same_levels]
                    delta = {lv: (values[lv][0] - reference[lv][0], values[lv][1] - reference[lv][1])
                             for lv in comparable if lv in values and lv in reference}
                    table.add(dataset, f"{run} vs {paper_methods[run]}", DELTA, delta)
    notes = [
        "PSNR in dB / SSIM; measured: this run, means over frames, then sequences, of frames.csv"
        + (", then over the training seeds (seeds)" if multi_seed else ""),
        f"paper: every row of the paper's table (stbn/report/paper.yaml, arXiv:2412.11820); {NOT_PRINTED}: "
        f"the paper prints no value; {NA}: not evaluated at that level",
    ]
    if has_avg:
        notes.append(
            "avg: mean over the levels listed (only for rows evaluated at all of them); "
            "its Δ is shown only when this run's levels are the paper's"
        )
    return Table(title, table.header, table.rows, table.records, notes)
