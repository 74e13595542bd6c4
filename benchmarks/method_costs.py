"""Parameters and multiply-accumulates per frame of STBN and UDVD at paper width (``docs/methods.md``).

Counted by :func:`stbn.report.complexity.count_macs` on PyTorch's ``meta`` device (no compute, any frame
size, any machine). Per frame = a 3-frame clip minus a 2-frame clip: STBN's steady-state recurrent step,
UDVD's sliding window (one triplet encoding and one decoding per frame). UDVD's published inference runs
each window from scratch (three encodings); that cost is printed too.

    .venv/bin/python benchmarks/method_costs.py --size 256 256 --size 540 960
"""

from __future__ import annotations

import argparse

import torch


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--size", nargs=2, type=int, action="append", metavar=("H", "W"), help="frame size (repeatable)")
    args = p.parse_args()
    for h, w in args.size or [(256, 256)]:
        report(h, w)


def report(h: int, w: int) -> None:
    """Print both methods' parameters and multiply-accumulates per frame of ``h`` x ``w`` sRGB frames."""
    from stbn.config import load_config
    from stbn.models.registry import build_model
    from stbn.report.complexity import count_macs, frame_costs

    stbn = frame_costs(load_config("paper-srgb", ["flow.estimator=pwcnet"]), (h, w))
    udvd_cfg = load_config(None, ["method=udvd"])
    udvd = frame_costs(udvd_cfg, (h, w))
    net = build_model(udvd_cfg).to("meta").eval()
    window = torch.zeros(1, 5, 3, h, w, device="meta")
    scratch = count_macs(net, lambda: net.window(window)) / 1e9
    print(f"{h}x{w}  STBN: {stbn['params']:,} params, {stbn['GMAC/frame']:.1f} GMAC/frame "
          f"(+ PWC-Net {stbn['flow params']:,} params, {stbn['flow GMAC/frame']:.1f} GMAC/frame)")
    print(f"{h}x{w}  UDVD: {udvd['params']:,} params, {udvd['GMAC/frame']:.1f} GMAC/frame "
          f"(sliding window), {scratch:.1f} GMAC/window from scratch")


if __name__ == "__main__":
    main()
