"""Turn the published STBN sRGB checkpoint into an stbn checkpoint that `stbn evaluate` loads.

The published file (official code, ``bdc_2_unify`` at the paper's width, PWC-Net inside) is renamed by
:mod:`stbn.models.official`; the model is the paper preset with the PWC-Net flow estimator, its
weights taken from the same file. Writes ``model.pt`` and ``config.json`` beside it.

    python workflow/scripts/import_published.py --checkpoint STBN_sigma30.pth --sigma 30 \
        --out results/models/published/official/sigma30/model.pt
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from stbn.checkpoint import build_model, save_checkpoint
from stbn.config import load_config
from stbn.data.atomic import atomic_output
from stbn.errors import StbnError
from stbn.models.flow.pwcnet import from_port_state_dict
from stbn.models.official import load_official_checkpoint
from stbn.provenance import provenance


def import_published(checkpoint: Path, sigma: float, out: Path) -> Path:
    """Convert ``checkpoint`` and write ``out`` (model.pt) and ``out.parent/config.json``."""
    overrides = ["name=published-official", "flow.estimator=pwcnet", f"data.sigma={sigma}"]
    cfg = load_config("paper-srgb", overrides)
    denoiser, flow = load_official_checkpoint(checkpoint)
    if not flow:
        raise StbnError(f"{checkpoint}: holds no PWC-Net weights (pwcnet.*): not the published bdc_2_unify model")
    net = build_model(cfg, flow_weights=False)
    state = {**denoiser, **{f"flow.net.{k}": v for k, v in from_port_state_dict(flow, str(checkpoint)).items()}}
    result = net.load_state_dict(state, strict=False)
    if result.missing_keys or result.unexpected_keys:
        raise StbnError(
            f"{checkpoint}: does not fit the paper-width sRGB model "
            f"(missing {result.missing_keys[:3]}, unexpected {result.unexpected_keys[:3]})"
        )
    record = {**provenance(), "imported_from": str(checkpoint)}
    save_checkpoint(out, {"step": 0, "config": cfg.model_dump(mode="json"), "provenance": record,
                          "state_dict": net.state_dict()})
    with atomic_output(out.parent / "config.json") as tmp:
        tmp.write_text(json.dumps(cfg.model_dump(mode="json"), indent=2))
    return out


def main(argv: list[str] | None = None) -> int:
    """Command-line entry point; user errors print one line and return 2."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--checkpoint", required=True, type=Path, help="the published .pth file")
    parser.add_argument("--sigma", required=True, type=float, help="the noise level it was trained for (/255)")
    parser.add_argument("--out", required=True, type=Path, help="model.pt to write")
    args = parser.parse_args(argv)
    try:
        print(import_published(args.checkpoint, args.sigma, args.out))
    except StbnError as exc:
        print(f"import_published: error: {exc}", file=sys.stderr)
        return 2
    return 0


if "snakemake" in globals():
    with open(snakemake.log[0], "w") as _log:  # noqa: F821 (injected by Snakemake)
        sys.stderr = _log
        _argv = ["--checkpoint", snakemake.input.checkpoint, "--sigma", snakemake.wildcards.sigma,  # noqa: F821
                 "--out", snakemake.output.model]  # noqa: F821
        sys.exit(main(_argv))
elif __name__ == "__main__":
    sys.exit(main())
