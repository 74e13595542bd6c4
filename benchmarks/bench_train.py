"""Training speed: seconds per step and the loss curve of the speed switches against the fp32 eager reference.

Paper width (64 channels), batch 1, T = 8, 96x96 crops of real photographs (scikit-image's bundled
stills, panned 2 px right and 1 px down per frame) with fresh AWGN sigma 30/255 per step, Adam 3e-4 and
gradient clipping 1.0 (the paper recipe, through :class:`stbn.train.Trainer`). Every variant starts from
the same weights and sees the same batches; steps of the variants are interleaved, so a busy machine
slows all of them alike (process CPU seconds are printed too: a shared machine slows wall time unevenly).
Peak memory is measured per variant in its own process (``--memory``).

    .venv/bin/python benchmarks/bench_train.py              # 50 steps, about 15-30 min on 2 cores
    .venv/bin/python benchmarks/bench_train.py --steps 5    # smoke run
"""

from __future__ import annotations

import argparse
import copy
import json
import resource
import statistics
import subprocess
import sys
import time

import numpy as np
import torch

from stbn.config import SpeedConfig, preset
from stbn.data.clips import Batch
from stbn.models import STBN
from stbn.train import Trainer

SIGMA = 30.0 / 255.0
VARIANTS = {
    "fp32": SpeedConfig(),
    "fp32 CL": SpeedConfig(channels_last=True),
    "bf16 CL": SpeedConfig(precision="bf16", channels_last=True),
}


def pan(t_len: int, size: int, step: int) -> torch.Tensor:
    """A clean ``(1, T, 3, size, size)`` clip: a crop of a still, panned; position and still vary with ``step``."""
    from skimage import data

    img = getattr(data, ("coffee", "astronaut", "chelsea", "rocket")[step % 4])()[..., :3]
    rng = np.random.default_rng(step)
    y0 = int(rng.integers(0, img.shape[0] - size - t_len))
    x0 = int(rng.integers(0, img.shape[1] - size - 2 * t_len))
    frames = [img[y0 + t : y0 + t + size, x0 + 2 * t : x0 + 2 * t + size] for t in range(t_len)]
    return torch.from_numpy(np.stack(frames).astype(np.float32) / 255.0).permute(0, 3, 1, 2).unsqueeze(0)


def batch(step: int, t_len: int, size: int) -> Batch:
    """The step's batch: the same for every variant."""
    clean = pan(t_len, size, step)
    g = torch.Generator().manual_seed(step)
    noisy = clean + SIGMA * torch.randn(clean.shape, generator=g)
    return Batch(clean=clean, noisy=noisy, sigma=torch.full((1, 1, 1, 1, 1), SIGMA))


def trainer(name: str, net: STBN) -> Trainer:
    cfg = preset("paper-srgb")
    cfg = cfg.model_copy(update={"speed": VARIANTS[name]})
    return Trainer(cfg, net)


def memory_worker(name: str, t_len: int, size: int, steps: int) -> dict:
    """Peak RSS of ``steps`` training steps of one variant (run in a fresh process)."""
    torch.manual_seed(0)
    tr = trainer(name, STBN(3))
    for i in range(steps):
        tr.step(batch(i, t_len, size), i)
    return {"peak_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--steps", type=int, default=50)
    parser.add_argument("--frames", type=int, default=8)
    parser.add_argument("--size", type=int, default=96)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--variants", nargs="+", default=list(VARIANTS), choices=list(VARIANTS))
    parser.add_argument("--memory", action="store_true", help="also peak RSS per variant (3 steps, own process)")
    parser.add_argument("--memory-worker", help=argparse.SUPPRESS)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    if args.memory_worker:
        print(json.dumps(memory_worker(args.memory_worker, args.frames, args.size, 3)))
        return
    print(f"# bench_train: paper width, batch 1, T={args.frames}, {args.size}x{args.size}, sigma 30, "
          f"{args.threads} threads, {args.steps} steps, variants interleaved per step")
    torch.manual_seed(0)
    net = STBN(3)
    trainers = {name: trainer(name, copy.deepcopy(net)) for name in args.variants}
    losses: dict[str, list[float]] = {n: [] for n in trainers}
    times: dict[str, list[float]] = {n: [] for n in trainers}
    cpu: dict[str, list[float]] = {n: [] for n in trainers}
    print("step " + " ".join(f"{n:>12}" for n in trainers) + "   (loss; seconds)")
    for i in range(args.steps):
        b = batch(i, args.frames, args.size)
        for name, tr in trainers.items():
            start, cpu_start = time.perf_counter(), time.process_time()
            loss, _ = tr.step(b, i)
            times[name].append(time.perf_counter() - start)
            cpu[name].append(time.process_time() - cpu_start)
            losses[name].append(loss)
        print(f"{i:4d} " + " ".join(f"{losses[n][-1]:12.5f}" for n in trainers) + "   "
              + " ".join(f"{times[n][-1]:6.2f}" for n in trainers), flush=True)
    ref = args.variants[0]
    lr = np.array(losses[ref])
    noise = float(np.std(np.diff(lr[len(lr) // 2 :]))) if len(lr) > 3 else float("nan")
    print(f"\n{'variant':<10} {'s/step':>8} {'speed-up':>8} {'cpu s':>7} {'cpu x':>6} {'mean loss':>10} {'last-10 mean':>12} "
          f"{'mean|dloss|':>11} {'max|dloss|':>10}  (step-to-step loss std, 2nd half, of {ref}: {noise:.5f})")
    for name in trainers:
        la = np.array(losses[name])
        med = statistics.median(times[name][1:] or times[name])
        ref_med = statistics.median(times[ref][1:] or times[ref])
        c, ref_c = (statistics.median(cpu[n][1:] or cpu[n]) for n in (name, ref))
        d = np.abs(la - lr)
        print(f"{name:<10} {med:8.3f} {ref_med / med:8.2f} {c:7.2f} {ref_c / c:6.2f} {la.mean():10.5f} {la[-10:].mean():12.5f} "
              f"{d.mean():11.5f} {d.max():10.5f}")
    if args.memory:
        print(f"\n{'variant':<10} {'peak RSS MB (3 steps, own process)':>36}")
        for name in trainers:
            cmd = [sys.executable, __file__, "--memory-worker", name, "--frames", str(args.frames),
                   "--size", str(args.size), "--threads", str(args.threads)]
            out = subprocess.run(cmd, capture_output=True, text=True, check=True).stdout.strip().splitlines()[-1]
            print(f"{name:<10} {json.loads(out)['peak_mb']:36.0f}")


if __name__ == "__main__":
    main()
