"""``stbn validate-data --dataset NAME --path DIR``: check a dataset folder (or archive) against the catalog."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from stbn.data import catalog


def run(args: argparse.Namespace) -> int:
    """Exit 0 (printing warnings, if any) when ``args.path`` is usable as ``args.dataset``."""
    for warning in catalog.validate(args.dataset, args.path):
        print(f"stbn validate-data: warning: {warning}", file=sys.stderr)
    print(f"ok: {args.path} is a valid {args.dataset} dataset")
    return 0


def add_parser(subparsers: argparse._SubParsersAction) -> None:
    """Register the ``validate-data`` verb."""
    p = subparsers.add_parser("validate-data", help="check a dataset folder's layout (names what is missing)")
    p.add_argument("--dataset", required=True, help=f"one of: {', '.join(catalog.CATALOG)}")
    p.add_argument("--path", type=Path, required=True, help="the dataset folder (or a downloaded archive)")
    p.set_defaults(func=run)
