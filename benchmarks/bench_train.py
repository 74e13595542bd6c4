"""Training speed: seconds per step and the loss curve of the speed switches against the fp32 eager reference.

The ``--preset`` recipe and network (default ``paper-srgb``: width 64, ``--width`` for smoke runs), batch 1, T
= 8, 96x96 crops of real photographs (scikit-image's bundled stills, panned 2 px right and 1 px down per
frame) with fresh AWGN sigma 30/255 per step, and the preset's optimiser settings (paper: Adam 3e-4, gradient
clipping 1.0), through :class:`stbn.training.trainer.Trainer`. Flows come from the ``--flow`` estimator inside
every step (default PWC-Net with random weights, frozen, as the published code aligns with PWC-Net; random
flows are non-zero, so the alignment runs), the same for every variant. Every variant starts from the same
weights and sees the same batches; steps of the variants are interleaved, so a busy machine slows all of them
alike; ``comp`` variants compile the network (``speed.compile``) in their first step, which the medians leave
out and the table prints apart (process CPU seconds are printed too: a shared machine slows wall time
unevenly). A variant whose step fails (e.g. a non-finite loss or gradient norm) is reported as failed with the
step and the message, and the others go on. Peak memory is measured per variant in its own process
(``--memory``): baseline (interpreter, torch and the model, before the first step), peak (``VmHWM``) and peak
minus baseline.

    .venv/bin/python benchmarks/bench_train.py              # 50 steps, roughly 15 min on 2 idle cores
    .venv/bin/python benchmarks/bench_train.py --preset cpu-fit --batch 2 --frames 6 --size 64 \
        --variants fp32 "fp32 comp" bf16 "bf16 comp" auto    # the fitting model, compiled or not
    .venv/bin/python benchmarks/bench_train.py --steps 2 --width 4 --size 32 --frames 3    # smoke run

Acceptance (issue 8):

- 8.4 training step, batch 1, T=8, 96x96, paper width: ``bench_train.py --memory`` prints each variant's
  ``s/step`` and ``speed-up`` against fp32 eager in the same run, the loss curve (``mean|dloss|`` and
  ``max|dloss|`` over 50 steps beside the reference's step-to-step loss noise), and peak memory beside the
  published code's 5.7 s/step and 3.9 GB (roughly 15 min).
"""

from __future__ import annotations

import argparse
import copy
import json
import statistics
import subprocess
import sys
import time

import numpy as np
import torch
from _common import SIGMA, STILLS, add_flow_argument, model_description, peak_rss_mb, rss_mb

from stbn.config import ExperimentConfig, SpeedConfig, load_config
from stbn.data.clips import Batch
from stbn.errors import StbnError
from stbn.hardware import machine_line
from stbn.models.registry import Denoiser, build_model
from stbn.training.trainer import Trainer

PUBLISHED = "published code (PWC-Net included), batch 1, T=8, 96x96, paper width: 5.7 s/step, 3.9 GB peak"
VARIANTS = {
    "fp32": SpeedConfig(precision="fp32", channels_last=False, compile=False),
    "fp32 CL": SpeedConfig(precision="fp32", channels_last=True, compile=False),
    "fp32 comp": SpeedConfig(precision="fp32", channels_last=False, compile=True),
    "bf16": SpeedConfig(precision="bf16", channels_last=False, compile=False),
    "bf16 CL": SpeedConfig(precision="bf16", channels_last=True, compile=False),
    "bf16 comp": SpeedConfig(precision="bf16", channels_last=False, compile=True),
    "auto": SpeedConfig(),
}


def pan(t_len: int, size: int, step: int) -> torch.Tensor:
    """A clean ``(1, T, 3, size, size)`` clip: a crop of a still, panned; position and still vary with ``step``."""
    from skimage import data

    img = getattr(data, STILLS[step % len(STILLS)])()[..., :3]
    rng = np.random.default_rng(step)
    y0 = int(rng.integers(0, img.shape[0] - size - t_len))
    x0 = int(rng.integers(0, img.shape[1] - size - 2 * t_len))
    frames = [img[y0 + t : y0 + t + size, x0 + 2 * t : x0 + 2 * t + size] for t in range(t_len)]
    return torch.from_numpy(np.stack(frames).astype(np.float32) / 255.0).permute(0, 3, 1, 2).unsqueeze(0)


def batch(step: int, args: argparse.Namespace) -> Batch:
    """The step's ``(batch, T, 3, size, size)`` batch: the same for every variant."""
    clean = torch.cat([pan(args.frames, args.size, step * args.batch + i) for i in range(args.batch)])
    g = torch.Generator().manual_seed(step)
    noisy = clean + SIGMA * torch.randn(clean.shape, generator=g)
    return Batch(clean=clean, noisy=noisy, sigma=torch.full((args.batch, 1, 1, 1, 1), SIGMA))


def recipe(args: argparse.Namespace) -> ExperimentConfig:
    """The preset's recipe with the benchmark's width and flow estimator."""
    overrides = [f"flow.estimator={args.flow}"] + ([f"model.num_channels={args.width}"] if args.width else [])
    return load_config(args.preset, overrides)


def model(args: argparse.Namespace) -> Denoiser:
    """The preset's network with seed-0 random weights (PWC-Net randomly initialised: no weights file read)."""
    torch.manual_seed(0)
    return build_model(recipe(args), flow_weights=False)


def trainer(name: str, net: Denoiser, args: argparse.Namespace) -> Trainer:
    """The preset recipe's trainer of ``net`` with the variant's speed switches."""
    # minutes: auto resolves as for a 30-minute fit (a run of unknown length stays eager)
    return Trainer(recipe(args).model_copy(update={"speed": VARIANTS[name]}), net, minutes=30.0)


def failure(step: int, exc: StbnError) -> str:
    """How a failed variant is reported."""
    return f"FAILED at step {step}: {exc}"


def memory_worker(name: str, args: argparse.Namespace, steps: int) -> dict:
    """Baseline and peak resident memory of ``steps`` training steps of one variant (run in a fresh process);
    ``failed`` if a step raised."""
    tr = trainer(name, model(args), args)
    baseline = rss_mb()
    result: dict = {"baseline_mb": baseline}
    for i in range(steps):
        try:
            tr.step(batch(i, args), i)
        except StbnError as exc:
            result["failed"] = failure(i, exc)
            break
    return {**result, "peak_mb": peak_rss_mb()}


def median_step(seconds: list[float]) -> float:
    """Median over the steps after the first (warm-up), if there are any."""
    return statistics.median(seconds[1:] or seconds)


def print_memory(args: argparse.Namespace, names: list[str]) -> None:
    """Run :func:`memory_worker` for each variant in its own process and print its memory."""
    print(f"\n{'variant':<10} {'peak MB':>8} {'base MB':>8} {'peak-base':>9}  (3 steps, own process)")
    for name in names:
        cmd = [sys.executable, __file__, "--memory-worker", name, "--preset", args.preset, "--frames",
               str(args.frames), "--size", str(args.size), "--batch", str(args.batch), "--threads",
               str(args.threads), "--width", str(args.width), "--flow", args.flow]
        proc = subprocess.run(cmd, capture_output=True, text=True)
        if proc.returncode:
            print(f"{name:<10} FAILED: worker exited with {proc.returncode}: {proc.stderr.strip()[-500:]}")
            continue
        res = json.loads(proc.stdout.strip().splitlines()[-1])
        peak, base = res["peak_mb"], res["baseline_mb"]
        print(f"{name:<10} {peak:8.0f} {base:8.0f} {peak - base:9.0f}  {res.get('failed', '')}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--steps", type=int, default=50)
    parser.add_argument("--preset", default="paper-srgb", help="the recipe and network (e.g. cpu-fit)")
    parser.add_argument("--frames", type=int, default=8)
    parser.add_argument("--size", type=int, default=96)
    parser.add_argument("--batch", type=int, default=1)
    parser.add_argument("--width", type=int, default=0, help="state channels (0: the preset's; paper: 64)")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--variants", nargs="+", default=["fp32", "fp32 CL", "bf16 CL", "auto"], choices=list(VARIANTS),
                        help="the first is the reference")
    add_flow_argument(parser)
    parser.add_argument("--memory", action="store_true", help="also peak RSS per variant (3 steps, own process)")
    parser.add_argument("--memory-worker", help=argparse.SUPPRESS)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    if args.memory_worker:
        print(json.dumps(memory_worker(args.memory_worker, args, 3)))
        return
    net = model(args)
    width = recipe(args).model.num_channels
    print(f"# bench_train: {args.preset} recipe, batch {args.batch}, T={args.frames}, {args.size}x{args.size}, "
          f"sigma 30, {args.threads} threads, {args.steps} steps, variants interleaved per step\n"
          f"# model: {model_description(None, width, args.flow)}, {net.num_parameters()} parameters\n"
          f"# {PUBLISHED}\n# {machine_line()}")
    trainers = {name: trainer(name, copy.deepcopy(net), args) for name in args.variants}
    losses: dict[str, list[float]] = {n: [] for n in trainers}
    times: dict[str, list[float]] = {n: [] for n in trainers}
    cpu: dict[str, list[float]] = {n: [] for n in trainers}
    failed: dict[str, str] = {}
    print("step " + " ".join(f"{n:>12}" for n in trainers) + "   (loss; seconds)")
    for i in range(args.steps):
        b = batch(i, args)
        for name, tr in trainers.items():
            if name in failed:
                continue
            start, cpu_start = time.perf_counter(), time.process_time()
            try:
                loss, _ = tr.step(b, i)
            except StbnError as exc:
                failed[name] = failure(i, exc)
                print(f"     {name}: {failed[name]}", flush=True)
                continue
            times[name].append(time.perf_counter() - start)
            cpu[name].append(time.process_time() - cpu_start)
            losses[name].append(loss)
        if len(failed) == len(trainers):
            break
        print(f"{i:4d} " + " ".join(f"{'failed' if n in failed else f'{losses[n][-1]:.5f}':>12}" for n in trainers)
              + "   " + " ".join(f"{'-' if n in failed else f'{times[n][-1]:.2f}':>6}" for n in trainers), flush=True)
    ref = args.variants[0]
    lr = np.array(losses[ref])
    noise = float(np.std(np.diff(lr[len(lr) // 2 :]))) if len(lr) > 3 else float("nan")
    print("\nfirst step (compiling where compiled), s: " + ", ".join(
        f"{n} {times[n][0]:.1f}" for n in trainers if times[n]))
    print(f"\n{'variant':<10} {'s/step':>8} {'speed-up':>8} {'cpu s':>7} {'cpu x':>6} {'mean loss':>10} "
          f"{'last-10 mean':>12} {'mean|dloss|':>11} {'max|dloss|':>10}  (step-to-step loss std, 2nd half, of {ref}: "
          f"{noise:.5f})")
    for name in trainers:
        if name in failed:
            print(f"{name:<10} {failed[name]}")
            continue
        la = np.array(losses[name])
        med, c = median_step(times[name]), median_step(cpu[name])
        if ref in failed:
            versus = f"{'n/a':>8} {c:7.2f} {'n/a':>6} {la.mean():10.5f} {la[-10:].mean():12.5f} {'n/a':>11} {'n/a':>10}"
        else:
            d = np.abs(la - lr)
            versus = (f"{median_step(times[ref]) / med:8.2f} {c:7.2f} {median_step(cpu[ref]) / c:6.2f} "
                      f"{la.mean():10.5f} {la[-10:].mean():12.5f} {d.mean():11.5f} {d.max():10.5f}")
        print(f"{name:<10} {med:8.3f} {versus}")
    if args.memory:
        print_memory(args, list(trainers))


if __name__ == "__main__":
    main()
