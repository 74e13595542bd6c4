"""``stbn prepare embedded --out DIR``: materialise the embedded datasets (idempotent)."""

from __future__ import annotations

import argparse
from pathlib import Path

from stbn.data import embedded


def run(args: argparse.Namespace) -> int:
    """Build the embedded sRGB train/test and raw datasets under ``args.out`` and print their roots."""
    for name, root in embedded.materialise(args.out, force=args.force).items():
        print(f"{name}\t{root}")
    return 0


def add_parser(subparsers: argparse._SubParsersAction) -> None:
    """Register the ``prepare`` verb."""
    p = subparsers.add_parser("prepare", help="materialise the embedded datasets (no download)")
    p.add_argument("dataset", choices=["embedded"], help="which datasets to prepare")
    p.add_argument("--out", type=Path, required=True, help="folder that receives one sub-folder per dataset")
    p.add_argument("--force", action="store_true", help="rebuild even if an up-to-date copy exists")
    p.set_defaults(func=run)
