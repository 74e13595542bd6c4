"""The ``stbn`` command line: one thin dispatcher; each verb lives in ``stbn.commands.<verb>``.

A verb module exposes ``add_parser(subparsers)`` (which sets ``func`` on its parser) and does its work
in that function. User errors (:class:`stbn.errors.StbnError`) print one line and exit 2.
"""

from __future__ import annotations

import argparse
import importlib
import sys

from stbn.errors import StbnError

COMMANDS: tuple[str, ...] = (
    "prepare", "validate_data", "train", "evaluate", "denoise", "import_published", "table", "baseline", "figure"
)


def build_parser() -> argparse.ArgumentParser:
    """The top-level parser with one sub-parser per verb module in :data:`COMMANDS`."""
    parser = argparse.ArgumentParser(prog="stbn", description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="command", required=True)
    for name in COMMANDS:
        importlib.import_module(f"stbn.commands.{name}").add_parser(sub)
    return parser


def main(argv: list[str] | None = None) -> int:
    """Entry point: parse, dispatch, turn user errors into one line and exit code 2."""
    args = build_parser().parse_args(argv)
    try:
        return int(args.func(args) or 0)
    except StbnError as exc:
        print(f"stbn {args.command}: error: {exc}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
