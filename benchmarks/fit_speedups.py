"""CPU seconds per fitting step of the cpu-fit preset and of the variants it avoids (docs/fitting.md).

One thread, process CPU time (a shared machine changes wall time far more than CPU time), variants
interleaved step by step on the same real batches (bikes-fence, 20 frames, sigma 30 seed-0 noise, flows
estimated once by DIS), medians after the first step. Prints parameters, CPU s/step and the ratio to
``cpu-fit``; a variant whose step fails (e.g. a non-finite gradient) is reported as such.

    .venv/bin/python benchmarks/fit_speedups.py --steps 6      # about 1 CPU minute
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from dataclasses import replace
from pathlib import Path

import torch

from stbn.checkpoint import build_model
from stbn.config import load_config
from stbn.data.clips import TrainingClips
from stbn.errors import StbnError
from stbn.training.trainer import Trainer

sys.path.insert(0, str(Path(__file__).resolve().parent))
from fit_vs_bm3d import clean_clip, noisy_folder  # noqa: E402

VARIANTS: dict[str, tuple[list[str], bool]] = {  # name: (overrides of cpu-fit, DIS on every step's crops)
    "cpu-fit": ([], False),
    "DIS on every step": ([], True),
    "NCHW": (["speed.channels_last=false"], False),
    "published SRFE (4C features, 2x8 blocks)": (["model.srfe_features=96", "model.srfe_blocks=8"], False),
    "SRFE 48 features, 2x8 blocks": (["model.srfe_blocks=8"], False),
    "5 resblocks": (["model.num_resblocks=5"], False),
    "width 32, SRFE 64 features": (["model.num_channels=32", "model.srfe_features=64"], False),
    "bf16 autocast": (["speed.precision=bf16"], False),
}


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--steps", type=int, default=6)
    p.add_argument("--data", type=Path, default=Path(tempfile.gettempdir()) / "stbn-fit-vs-bm3d" / "data")
    args = p.parse_args()
    torch.set_num_threads(1)
    clean = clean_clip(args.data, "bikes-fence", 20, 256)
    noisy = noisy_folder(clean, 30.0, Path(tempfile.mkdtemp()) / "noisy")
    base = load_config("cpu-fit")
    video = torch.from_numpy(noisy).permute(0, 3, 1, 2).unsqueeze(0)
    flows = [tuple(f[0] for f in build_model(base).estimate_flows(video))]
    d = base.data
    clips = TrainingClips("srgb", d.clip_length, 1, d.crop, d.batch_size, 0, noisy=[noisy],
                          sigma_range_255=(30.0, 30.0), flows=flows)
    runs = {}
    for name, (overrides, per_step) in VARIANTS.items():
        torch.manual_seed(0)
        cfg = load_config("cpu-fit", overrides)
        net = build_model(cfg)
        runs[name] = {"trainer": Trainer(cfg, net), "per_step": per_step, "times": [], "params": net.num_parameters()}
    for step in range(args.steps):
        batch = clips.batch(step)
        for run in runs.values():
            if run.get("failed"):
                continue
            start = time.process_time()
            try:
                run["trainer"].step(replace(batch, flows=None) if run["per_step"] else batch, step)
            except StbnError as err:
                run["failed"] = str(err)
            run["times"].append(time.process_time() - start)
    ref = statistics.median(runs["cpu-fit"]["times"][1:])
    for name, run in runs.items():
        cost = statistics.median(run["times"][1:] or run["times"])
        note = f"  FAILED: {run['failed']}" if run.get("failed") else ""
        print(f"{name:<44}{run['params']:>10,d} params {cost:7.3f} CPU s/step  x{cost / ref:.2f}{note}")


if __name__ == "__main__":
    main()
