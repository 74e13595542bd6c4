"""The claims table: each claim of the paper this run can test, with a paired difference and a verdict.

The claims are data (``claims.yaml``): two arms given as run patterns, the paper's numbers, what to run
when the claim cannot be tested. For every pair of runs the patterns match and every (data set, noise
level) both were evaluated at, one row: the paired PSNR difference a - b on the same noisy frames, its
95% interval over test sequences and training seeds (:mod:`stbn.report.intervals`) and a verdict:

- ``reproduced``: the interval lies above zero (a beats b, as the paper says);
- ``contradicted``: it lies below zero;
- ``not resolved``: it contains zero; the row says what budget (test sequences, seeds) the interval
  suggests would resolve it, if the difference stayed the same.

A protocol question (``kind: protocol``, not a claim of the paper) names the better arm instead.
A trained arm with one seed takes the seed spread measured at this run's budget on the models that
have two or more seeds (pooled per kind of noise level, sigma or ISO). Figure 4's claims are measured
on warped unit Gaussian noise, one paired difference per noise seed.

About 310 lines: reading the run's per-frame files, pairing arms and the verdict rule are one pipeline
(the interval arithmetic is :mod:`stbn.report.intervals`).
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from importlib import resources
from pathlib import Path

import yaml

from stbn.errors import StbnError
from stbn.report.intervals import (
    MAX_SCALE,
    Difference,
    SeedSpread,
    paired_difference,
    pooled_seed_spread,
    replicate_difference,
    resolving_budget,
    seed_scores,
)
from stbn.report.paper import dataset_aliases, load_paper, paper_cell
from stbn.report.render import Table
from stbn.report.runs import parse_key, read_frames, split_label

REPRODUCED, CONTRADICTED, UNRESOLVED = "reproduced", "contradicted", "not resolved"
WARP_REPLICATES = 16
_WARP_STATS = ("variance", "correlation")


@dataclass(frozen=True)
class Claim:
    """One entry of ``claims.yaml`` (see its header)."""

    id: str
    where: str
    statement: str
    a: tuple[str, ...] = ()
    b: tuple[str, ...] = ()
    kind: str = "claim"
    names: tuple[str, str] = ("a", "b")
    paper: Mapping[str, object] | None = None
    untested: str = ""
    warp_noise: str | None = None


def load_claims(path: str | Path | None = None) -> list[Claim]:
    """The claims of ``claims.yaml`` (the packaged file unless ``path`` is given), validated."""
    source = str(path or "stbn/report/claims.yaml")
    text = Path(path).read_text() if path else resources.files("stbn.report").joinpath("claims.yaml").read_text()
    data = yaml.safe_load(text)
    if not isinstance(data, dict) or not isinstance(data.get("claims"), list):
        raise StbnError(f"{source}: expected a mapping with a list under 'claims'")
    claims = []
    for i, entry in enumerate(data["claims"]):
        where = f"{source}: claims[{i}]"
        if not isinstance(entry, dict):
            raise StbnError(f"{where}: expected a mapping")
        unknown = set(entry) - set(Claim.__dataclass_fields__)
        if unknown:
            raise StbnError(f"{where}: unknown key(s) {', '.join(sorted(unknown))}")
        if not {"id", "where", "statement"} <= set(entry):
            raise StbnError(f"{where}: needs id, where and statement")
        warp = entry.get("warp_noise")
        if warp is None and not (entry.get("a") and entry.get("b")):
            raise StbnError(f"{where}: needs the arms a and b (or warp_noise)")
        if warp is not None and warp not in _WARP_STATS:
            raise StbnError(f"{where}: warp_noise must be one of {', '.join(_WARP_STATS)}")
        if entry.get("kind", "claim") not in ("claim", "protocol"):
            raise StbnError(f"{where}: kind must be claim or protocol")
        arms = {k: tuple([entry[k]] if isinstance(entry.get(k), str) else entry.get(k, ())) for k in ("a", "b")}
        claims.append(Claim(**{**entry, **arms, "names": tuple(entry.get("names", ("a", "b")))}))
    return claims


# ------------------------------------------------------------------------------------------ reading
@dataclass(frozen=True)
class Cell:
    """Where a run was evaluated: data set and noise level (``axis`` sigma or iso)."""

    dataset: str
    axis: str
    level: float


Runs = dict[str, dict[Cell, dict[int | None, dict[str, dict[str, float]]]]]


def read_runs(inputs: Sequence[str | Path]) -> tuple[Runs, dict[tuple[str, Cell], frozenset[Path]]]:
    """``{run: {cell: {seed: {sequence: {frame: psnr}}}}}`` from ``frames.csv`` inputs (``PATH`` or
    ``LABEL=PATH``), in input order, and the files behind each (run, cell) (two labels of one shared
    model read the same files); an evaluation given twice is an error."""
    runs: Runs = {}
    files: dict[tuple[str, Cell], set[Path]] = {}
    for item in inputs:
        label, path = split_label(item)
        key = parse_key(path, label)
        cell = Cell(key.dataset, key.axis, key.level)
        seeds = runs.setdefault(key.run, {}).setdefault(cell, {})
        if key.seed in seeds:
            raise StbnError(f"{item}: {key.run} on {key.dataset} at {key.axis} {key.level:g} "
                            f"(seed {key.seed}) is given twice")
        frames: dict[str, dict[str, float]] = {}
        for row in read_frames(path):
            frames.setdefault(str(row["sequence"]), {})[str(row["frame"])] = float(row["psnr"])  # type: ignore[arg-type]
        seeds[key.seed] = frames
        files.setdefault((key.run, cell), set()).add(path.resolve())
    return runs, {k: frozenset(v) for k, v in files.items()}


def seed_spreads(runs: Runs, files: Mapping[tuple[str, Cell], frozenset[Path]]) -> dict[str, SeedSpread]:
    """The pooled between-seed spread of the trained runs with 2+ seeds, per axis (sigma | iso); a
    model shared by several runs counts once."""
    spreads = {}
    for axis in ("sigma", "iso"):
        groups: dict[frozenset[Path], tuple[str, list[float]]] = {}
        for run, cells in runs.items():
            for cell, arm in cells.items():
                if cell.axis == axis and None not in arm and len(arm) >= 2:
                    groups.setdefault(files[(run, cell)], (run, seed_scores(arm)))
        names = ", ".join(dict.fromkeys(run for run, _ in groups.values()))
        spread = pooled_seed_spread([g for _, g in groups.values()], names)
        if spread is not None:
            spreads[axis] = spread
    return spreads


# ------------------------------------------------------------------------------------------ matching
def _pattern(text: str) -> re.Pattern[str]:
    parts = re.split(r"(\*|\{variant\})", text)
    regex = "".join("[^/]+" if p == "*" else "(?P<variant>[^/]+)" if p == "{variant}" else re.escape(p) for p in parts)
    return re.compile(f"^{regex}$")


def _matches(patterns: Sequence[str], runs: Sequence[str]) -> list[tuple[str, str | None]]:
    found = []
    for pattern in map(_pattern, patterns):
        for run in runs:
            m = pattern.match(run)
            if m:
                found.append((run, m.groupdict().get("variant")))
    return list(dict.fromkeys(found))


def pairs(claim: Claim, runs: Sequence[str]) -> list[tuple[str, str]]:
    """The (a, b) run pairs of a claim among ``runs``: every match of a with every match of b, the
    same variant where both patterns say ``{variant}``, never a run with itself."""
    return [
        (ra, rb)
        for ra, va in _matches(claim.a, runs)
        for rb, vb in _matches(claim.b, runs)
        if ra != rb and (va is None or vb is None or va == vb)
    ]


# ------------------------------------------------------------------------------------------ paper
def paper_difference(claim: Claim, cell: Cell) -> tuple[float, str]:
    """The paper's a - b at this level (NaN if not printed there) and its description."""
    paper = dict(claim.paper or {})
    if "table" not in paper:
        return math.nan, str(paper.get("text", ""))
    table = int(paper["table"])  # type: ignore[arg-type]
    cells = [c for c in load_paper() if c.table == table]
    datasets = list(dict.fromkeys(c.dataset for c in cells))
    dataset = dataset_aliases().get(cell.dataset.lower(), datasets[0])
    dataset = dataset if dataset in datasets else datasets[0]
    ca = paper_cell(table, dataset, str(paper["a"]), cell.level, cells)
    cb = paper_cell(table, dataset, str(paper["b"]), cell.level, cells)
    note = f"; {paper['note']}" if paper.get("note") else ""
    if ca is None or cb is None:
        return math.nan, f"Table {table}: {paper['a']} vs {paper['b']} not printed at this level{note}"
    delta = ca.psnr - cb.psnr
    compared = f"{paper['a']} {ca.psnr:.2f} vs {paper['b']} {cb.psnr:.2f}"
    return delta, f"{delta:+.2f} (Table {table}, {dataset}: {compared}){note}"


# ------------------------------------------------------------------------------------------ verdicts
def verdict(claim: Claim, diff: Difference) -> str:
    """reproduced / contradicted / not resolved (a protocol question: which arm is better)."""
    if not diff.resolved:
        return UNRESOLVED
    better_a = diff.low > 0
    if claim.kind == "protocol":
        return f"{claim.names[0] if better_a else claim.names[1]} better"
    return REPRODUCED if better_a else CONTRADICTED


def to_resolve(diff: Difference, unit: str = "test sequences") -> str:
    """What budget the interval suggests would resolve an unresolved row."""
    if diff.resolved:
        return ""
    if diff.problem:
        return "2+ seeds per trained model" if "seed" in diff.problem else f"2+ {unit}"
    budget = resolving_budget(diff)
    if budget is None:
        return f"over {MAX_SCALE:,.0f}x this run's {unit} and seeds (|Δ| = {abs(diff.estimate):.3f} dB)"
    sequences, seeds = budget
    per_model = f", {seeds} seeds per model" if seeds else ""
    return f"~{sequences} {unit}{per_model} (if Δ stays {diff.estimate:+.2f})"


def _level_text(cell: Cell) -> str:
    return f"σ={cell.level:g}" if cell.axis == "sigma" else f"ISO {cell.level:g}"


def _interval_text(diff: Difference) -> str:
    if diff.problem:
        return f"{diff.estimate:+.2f} [no interval: {diff.problem}]"
    return f"{diff.estimate:+.2f} [{diff.low:+.2f}, {diff.high:+.2f}]"


# ------------------------------------------------------------------------------------------ the table
HEADER = ["claim", "where", "a − b", "data", "level", "paper Δ", "measured Δ [95% interval]", "n (seeds a/b)",
          "verdict", "to resolve"]


class _Rows:
    def __init__(self) -> None:
        self.rows: list[list[str]] = []
        self.records: list[dict[str, object]] = []

    def add(self, claim: Claim, a: str, b: str, data: str, level: str, diff: Difference,
            paper: tuple[float, str], n: str, unit: str) -> None:
        decided = verdict(claim, diff)
        need = to_resolve(diff, unit)
        inside = "" if math.isnan(paper[0]) or diff.problem else ("yes" if diff.low <= paper[0] <= diff.high else "no")
        self.rows.append([claim.statement, claim.where, f"{a} − {b}", data, level, paper[1] or "-",
                          _interval_text(diff), n, decided, need or "-"])
        self.records.append({
            "claim": claim.id, "kind": claim.kind, "where": claim.where, "statement": claim.statement,
            "a": a, "b": b, "dataset": data, "level": level, "paper_delta": paper[0], "paper": paper[1],
            "paper_delta_in_interval": inside, "delta": diff.estimate, "low": diff.low, "high": diff.high,
            "df": diff.df, "units": diff.sequences, "seeds_a": diff.seeds[0], "seeds_b": diff.seeds[1],
            "seed_spread": diff.seed_spread, "no_interval": diff.problem or "",
            **{f"var_{name.replace(' ', '_')}": part[0] for name, part in diff.components.items()},
            "verdict": decided, "to_resolve": need,
        })


def _warp_rows(claim: Claim, table: _Rows, replicates: int) -> None:
    """Figure 4: nearest vs bilinear warping of unit Gaussian noise, one difference per noise seed."""
    from stbn.analysis.warp_stats import figure4_flows, warp_noise_stats

    for name, flow in figure4_flows().items():
        diffs = []
        for seed in range(replicates):
            near, bil = (warp_noise_stats(flow, mode, seed) for mode in ("nearest", "bilinear"))  # type: ignore[arg-type]
            if claim.warp_noise == "variance":
                diffs.append(near.variance_ratio - bil.variance_ratio)
            else:
                diffs.append((bil.corr_x + bil.corr_y) / 2 - (near.corr_x + near.corr_y) / 2)
        a, b = ("nearest", "bilinear") if claim.warp_noise == "variance" else ("bilinear", "nearest")
        stat = "variance ratio" if claim.warp_noise == "variance" else "neighbour correlation"
        table.add(claim, f"{a} {stat}", f"{b} {stat}", "unit Gaussian noise", name, replicate_difference(diffs),
                  paper_difference(claim, Cell("", "", 0.0)), f"{replicates} noise seeds", "noise seeds")


def build_claims(inputs: Sequence[str | Path], claims: Sequence[Claim] | None = None,
                 replicates: int = WARP_REPLICATES) -> Table:
    """The claims table from this run's ``frames.csv`` files (``PATH`` or ``LABEL=PATH``; sigma and ISO
    evaluations together) and Figure 4's warped noise (``replicates`` noise seeds)."""
    claims = list(claims if claims is not None else load_claims())
    runs, files = read_runs(inputs)
    spreads = seed_spreads(runs, files)
    table, untested = _Rows(), []
    for claim in claims:
        if claim.warp_noise:
            _warp_rows(claim, table, replicates)
            continue
        tested = False
        for a, b in pairs(claim, list(runs)):
            for cell in (c for c in runs[a] if c in runs[b]):
                diff = paired_difference(runs[a][cell], runs[b][cell], spreads.get(cell.axis), (a, b))
                n = f"{diff.sequences} seq., seeds " + "/".join(str(k) if k else "–" for k in diff.seeds)
                table.add(claim, a, b, cell.dataset, _level_text(cell), diff, paper_difference(claim, cell), n,
                          "test sequences")
                tested = True
        if not tested:
            untested.append(f"{claim.id} ({claim.where}): {claim.untested or 'not in this run'}")
    notes = [
        "Δ: PSNR (dB) of a minus b on the same noisy frames, mean over frames, then sequences, then seeds",
        "95% interval over test sequences and training seeds (t quantile, Welch-Satterthwaite df; "
        "stbn/report/intervals.py); a model trained with one seed takes the seed spread measured at this "
        "budget: " + ("; ".join(f"{axis}: variance {s.variance:.3g} dB² ({s.df} df, from {s.source})"
                                 for axis, s in spreads.items()) or "none measured (no model with 2+ seeds)"),
        "verdict: reproduced (interval above 0), contradicted (below 0), not resolved (contains 0: "
        "'to resolve' is the budget at which the interval would exclude 0 if Δ stayed the same)",
        "paper: the paper's own difference of the same rows (stbn/report/paper.yaml), context only: "
        "its data, model width and budget differ from this run's",
    ]
    notes += [f"not tested by this run: {u}" for u in untested]
    return Table("Claims of the paper tested by this run", HEADER, table.rows, table.records, notes)
