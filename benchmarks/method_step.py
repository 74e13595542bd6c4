"""Wall time per training step of two or more methods (or any configs), interleaved in one process.

Each arm is ``--config`` with the common ``--set`` overrides and its own (``--arm NAME=KEY=VALUE,...``);
every arm trains through :class:`stbn.training.trainer.Trainer` on batches drawn with the same seed from
the same clips (the embedded training shots unless ``data.train_root`` is set) at its own crop, clip
length and batch size, steps of the arms taking turns, so a busy machine slows them alike. Printed per
arm: median and mean wall seconds per step after the warm-up steps, process CPU seconds per step, the
denoiser's parameters. The defaults are the default run's Table 1 settings (``config.yaml``, experiment
``main``: one model over sigma 10-50) with its two variants, STBN with DIS flows and UDVD at the STBN
model's parameter count on 96x96 crops, batch 1:

    .venv/bin/python benchmarks/method_step.py --steps 20
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time

import torch

from stbn.config import apply_overrides, load_config
from stbn.data.clips import TrainingClips
from stbn.hardware import machine_line
from stbn.models.registry import build_model
from stbn.training.rng import seed_everything
from stbn.training.run import load_training_sequences
from stbn.training.trainer import Trainer

MAIN = ["model.num_channels=24", "model.srfe_features=48", "flow.estimator=dis", "data.crop=48", "data.clip_length=6",
        "data.temporal_stride=1", "data.batch_size=2", "data.sigma=[10, 50]"]
ARMS = [
    "stbn=",
    "udvd=method=udvd,flow.estimator=none,udvd.width=16,udvd.triplet_features=16,data.crop=96,data.batch_size=1",
]


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--config", default="default-srgb", help="base stbn config of every arm")
    p.add_argument("--set", dest="sets", action="append", help=f"common override (default: {' '.join(MAIN)})")
    p.add_argument("--arm", action="append", help="NAME=KEY=VALUE,KEY=VALUE (default: stbn and udvd as config.yaml)")
    p.add_argument("--steps", type=int, default=20, help="timed steps per arm")
    p.add_argument("--warmup", type=int, default=2, help="untimed steps per arm first")
    p.add_argument("--threads", type=int, default=1, help="torch threads (the default run's jobs use 1)")
    args = p.parse_args()

    torch.set_num_threads(args.threads)
    common = load_config(args.config, args.sets or MAIN)
    arms = {}
    for spec in args.arm or ARMS:
        name, _, sets = spec.partition("=")
        arms[name] = apply_overrides(common, [s for s in sets.split(",") if s], name) if sets else common
    with tempfile.TemporaryDirectory() as tmp:
        if common.data.train_root is None:
            from stbn.data.embedded import materialise

            common = apply_overrides(common, [f"data.train_root={materialise(tmp)['embedded-srgb-train']}"])
        sequences = load_training_sequences(common)
        trainers, clips = {}, {}
        for name, cfg in arms.items():  # an arm's own crop, clip length and batch size; the same seed
            clips[name] = TrainingClips.from_config(cfg.data, sequences, common.train.seed)
            seed_everything(cfg.train.seed)
            trainers[name] = Trainer(cfg, build_model(cfg))
        wall: dict[str, list[float]] = {n: [] for n in arms}
        cpu: dict[str, list[float]] = {n: [] for n in arms}
        for step in range(args.warmup + args.steps):
            order = list(arms)[step % len(arms):] + list(arms)[: step % len(arms)]
            for name in order:
                batch = clips[name].batch(step)
                w, c = time.perf_counter(), time.process_time()
                trainers[name].step(batch, step)
                if step >= args.warmup:
                    wall[name].append(time.perf_counter() - w)
                    cpu[name].append(time.process_time() - c)
    print(machine_line())
    print(f"{args.steps} timed steps per arm after {args.warmup}, interleaved")
    for name, cfg in arms.items():
        d = cfg.data
        print(f"{name:>8}: {statistics.median(wall[name]):.3f} s/step median, {statistics.mean(wall[name]):.3f} "
              f"mean, {statistics.mean(cpu[name]):.3f} CPU s/step; method {cfg.method}, flow {cfg.flow.estimator}, "
              f"{trainers[name].net.num_parameters():,} parameters, batch {d.batch_size} x {d.clip_length} "
              f"frames of {d.crop}x{d.crop}")


if __name__ == "__main__":
    main()
