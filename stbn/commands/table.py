"""``stbn table NAME --inputs FRAMES.csv... --out PREFIX``: a paper table beside this run's numbers, or
the claims table (``stbn table claims``: each claim of the paper with a paired difference and a verdict)."""

from __future__ import annotations

import argparse
from pathlib import Path

from stbn.errors import StbnError

CLAIMS = "claims"


def parse_pairs(items: list[str] | None, option: str) -> dict[str, str]:
    """``["a=b", ...]`` -> ``{"a": "b"}``; a clear error for a malformed or repeated item."""
    pairs: dict[str, str] = {}
    for item in items or []:
        key, sep, value = item.partition("=")
        if not sep or not key or not value:
            raise StbnError(f"{option} {item!r}: expected NAME=VALUE")
        if key in pairs:
            raise StbnError(f"{option}: {key!r} given twice")
        pairs[key] = value
    return pairs


def run(args: argparse.Namespace) -> int:
    """Build the table, add model size and cost for ``--model`` runs, write CSV/Markdown/LaTeX."""
    from stbn.report.render import write_table

    if args.name == CLAIMS:
        from stbn.report.claims import WARP_REPLICATES, build_claims, load_claims

        if args.paper_method or args.model:
            raise StbnError("stbn table claims takes no --paper-method or --model")
        claims = load_claims(args.claims) if args.claims else None
        for path in write_table(build_claims(args.inputs, claims, args.replicates or WARP_REPLICATES), args.out):
            print(path)
        return 0
    if args.claims:
        raise StbnError(f"--claims is for the claims table, not {args.name}")
    from stbn.report.tables import build_table

    paper_methods = parse_pairs(args.paper_method, "--paper-method")
    extras = {}
    models = parse_pairs(args.model, "--model")
    if models:
        from stbn.report.complexity import checkpoint_costs

        extras = {name: checkpoint_costs(Path(path), tuple(args.frame_size)) for name, path in models.items()}
    table = build_table(args.name, args.inputs, paper_methods=paper_methods, extras=extras)
    for path in write_table(table, args.out):
        print(path)
    return 0


def add_parser(subparsers: argparse._SubParsersAction) -> None:
    """Register ``stbn table``."""
    from stbn.report.tables import TABLES

    p = subparsers.add_parser(
        "table",
        help="rebuild a paper table from frames.csv files, the paper's numbers beside this run's",
        description=(
            "Inputs are per-frame metric files laid out as .../<run>/<dataset>/sigma<s>|iso<i>[/seed<k>]/frames.csv, "
            "each PATH or LABEL=PATH; writes PREFIX.csv (numbers), PREFIX.md and PREFIX.tex. `claims`: every claim "
            "of the paper (stbn/report/claims.yaml) that the inputs can test, with a paired difference, its 95% "
            "interval over test sequences and training seeds, and a verdict (docs/report.md)."
        ),
    )
    p.add_argument("name", choices=(*TABLES, CLAIMS), help="which table")
    p.add_argument("--inputs", nargs="+", required=True,
                   help="frames.csv files (or their folders), each PATH or LABEL=PATH (LABEL: the run's name)")
    p.add_argument("--out", required=True, type=Path, help="output prefix, e.g. results/tables/table1")
    p.add_argument(
        "--paper-method",
        action="append",
        metavar="RUN=METHOD",
        help="run RUN reproduces the paper's row METHOD (adds a Δ row where the dataset matches); repeatable",
    )
    p.add_argument(
        "--model",
        action="append",
        metavar="RUN=CHECKPOINT",
        help="add parameter count and multiply-accumulates per frame of RUN's model.pt; repeatable",
    )
    p.add_argument(
        "--frame-size",
        nargs=2,
        type=int,
        default=(480, 854),
        metavar=("H", "W"),
        help="frame size for the multiply-accumulate count (default: 480 854, DAVIS 480p)",
    )
    p.add_argument("--claims", type=Path,
                   help="claims: the claims file (default: the packaged stbn/report/claims.yaml)")
    p.add_argument("--replicates", type=int, metavar="N",
                   help="claims: noise seeds of Figure 4's warped-noise rows (default: 16)")
    p.set_defaults(func=run)
