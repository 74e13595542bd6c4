"""``stbn import-published``: a checkpoint of the published STBN code as an stbn checkpoint.

The three published networks (sRGB ``bdc_2_unify``, raw ``BR_d_c_raw``, sRGB with flow distillation
``bdc_flow``; :mod:`stbn.models.official`) are recognised from the file, renamed into our model with the
file's own PWC-Net weights, and saved as ``OUT/model.pt`` and ``OUT/config.json``, which ``stbn evaluate``
and ``stbn denoise --checkpoint`` load like a trained model.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from stbn.errors import StbnError
from stbn.models.official import PUBLISHED_NETWORKS

OUT_NAMES = frozenset({"model.pt", "config.json"})
"""What the verb writes in OUT: an existing OUT holding nothing else is a previous import, to be replaced."""


def add_parser(subparsers: argparse._SubParsersAction) -> None:
    """Register ``import-published``."""
    networks = ", ".join(f"{name} ({spec.official_class})" for name, spec in PUBLISHED_NETWORKS.items())
    p = subparsers.add_parser(
        "import-published",
        help="turn a published STBN checkpoint into an stbn checkpoint",
        description=f"Import a checkpoint of the official STBN code: {networks}. Writes OUT/model.pt and "
        "OUT/config.json, as a whole: a failure leaves no OUT.",
    )
    p.add_argument("--checkpoint", required=True, type=Path, help="the published .pth file")
    p.add_argument("--network", choices=tuple(PUBLISHED_NETWORKS),
                   help="the network the file must hold (default: recognised from its weights)")
    p.add_argument("--sigma", type=float, help="sRGB networks: the noise level it was trained for (/255 scale)")
    p.add_argument("--out", required=True, type=Path, help="output folder")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    """Check OUT, load and check the whole file, then write OUT at once."""
    from stbn.checkpoint import save_checkpoint
    from stbn.data.atomic import atomic_output, check_target
    from stbn.models.official import load_published
    from stbn.provenance import provenance

    check_target(args.out, "--out", directory=True)
    if args.out.is_dir() and {p.name for p in args.out.iterdir()} - OUT_NAMES:
        raise StbnError(f"--out {args.out}: holds files other than a previous import's; give a new or empty folder")
    if args.sigma is not None and not 0 < args.sigma <= 255:
        raise StbnError(f"--sigma {args.sigma}: expected a std on the /255 scale in (0, 255]")
    cfg, net = load_published(args.checkpoint, args.network, args.sigma)
    config = cfg.model_dump(mode="json")
    payload = {"step": 0, "config": config, "provenance": {**provenance(), "imported_from": str(args.checkpoint)},
               "state_dict": net.state_dict()}
    with atomic_output(args.out, directory=True) as tmp:
        save_checkpoint(tmp / "model.pt", payload)
        (tmp / "config.json").write_text(json.dumps(config, indent=2))
    print(args.out / "model.pt")
    return 0
