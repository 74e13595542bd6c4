"""``stbn train``: train a model from an experiment config (resumable)."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from stbn.config import PRESET_NAMES, load_config
from stbn.device import add_device_argument, resolve_device


def add_parser(subparsers: argparse._SubParsersAction) -> None:
    """Register ``train``."""
    p = subparsers.add_parser(
        "train",
        help="train a model from a config",
        description="Train STBN as the config says; writes OUT/model.pt, last.pt, config.json, log.csv.",
    )
    p.add_argument("--config", required=True, metavar="PRESET|FILE",
                   help=f"a preset ({', '.join(PRESET_NAMES)}) or an experiment YAML file")
    p.add_argument("--out", required=True, type=Path, help="output folder")
    p.add_argument("--set", dest="overrides", action="append", default=[], metavar="KEY=VALUE",
                   help="override a config key, e.g. --set train.lr=1e-4 (repeatable)")
    p.add_argument("--resume", action="store_true", help="continue from OUT/last.pt if it exists")
    add_device_argument(p)
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    """Validate everything, then train."""
    from stbn.training.run import train

    cfg = load_config(args.config, args.overrides)
    device = resolve_device(args.device)
    path = train(cfg, args.out, device=device, resume=args.resume)
    print(path, file=sys.stderr)
    return 0
