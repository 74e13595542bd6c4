"""Inference speed and memory: the fp32 eager whole-clip reference against streaming and the speed switches.

Every configuration runs in its own subprocess, so its peak resident memory (``ru_maxrss``) is its own;
timed configurations are interleaved with the reference and repeated, and medians are printed: wall
seconds per frame and, because a shared machine slows wall time unevenly, process CPU seconds per frame. Frames
are real photographs (scikit-image's bundled stills) panned 2 px right and 1 px down per frame, with
AWGN sigma 30/255 from a fixed seed. Outputs are compared with the reference run of the same clip:
max |difference|, PSNR of the output against the reference output, and PSNR against the clean frames.

    .venv/bin/python benchmarks/bench_inference.py --quick     # about 30 min on 2 busy cores
    .venv/bin/python benchmarks/bench_inference.py --full      # adds 960x540 x 40/85 and T=85 references: hours

``--checkpoint model.pt`` uses trained weights (needed for meaningful PSNR against the clean frames);
the default is the paper-width model (64 channels) with seeded random weights.
"""

from __future__ import annotations

import argparse
import json
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

import numpy as np

SIGMA = 30.0 / 255.0
STILLS = ("coffee", "astronaut", "chelsea", "rocket")


# ----------------------------------------------------------------------------- clip
def clean_frame(h: int, w: int, t: int, seed: int = 0) -> np.ndarray:
    """Frame ``t`` of the panned clip: ``(3, H, W)`` float32 in [0, 1]."""
    from skimage import data, transform

    key = (h, w, seed)
    if key not in _BASE:
        img = getattr(data, STILLS[seed % len(STILLS)])()[..., :3].astype(np.float32) / 255.0
        scale = max((h + 100) / img.shape[0], (w + 200) / img.shape[1])
        _BASE[key] = transform.rescale(img, scale, channel_axis=-1, anti_aliasing=True).astype(np.float32)
    base = _BASE[key]
    y, x = (t % 100), (2 * t) % 200
    return np.ascontiguousarray(base[y : y + h, x : x + w].transpose(2, 0, 1))


_BASE: dict[tuple[int, int, int], np.ndarray] = {}


def noisy_frame(clean: np.ndarray, t: int):
    """``clean`` plus AWGN sigma 30/255 seeded by ``t``: ``(1, 3, H, W)`` float32 tensor (unclipped)."""
    import torch

    g = torch.Generator().manual_seed(1000 + t)
    c = torch.from_numpy(clean)
    return (c + SIGMA * torch.randn(c.shape, generator=g)).unsqueeze(0)


# ----------------------------------------------------------------------------- worker (one subprocess)
def _rss_mb() -> float:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def _peak_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def worker(spec: dict) -> dict:
    """Denoise one clip as ``spec`` says; write the outputs to ``spec['out']``; return timings and memory."""
    import torch

    from stbn import STBN
    from stbn.checkpoint import load_model
    from stbn.config import InferConfig, SpeedConfig
    from stbn.infer import denoise_clip, denoise_frames

    torch.set_num_threads(spec["threads"])
    if spec["checkpoint"]:
        net, _, _ = load_model(spec["checkpoint"], torch.device("cpu"))
    else:
        torch.manual_seed(0)
        net = STBN(3, num_channels=spec["width"])
    net.eval()
    h, w, t_len = spec["h"], spec["w"], spec["t"]
    speed = SpeedConfig(precision=spec["precision"], channels_last=spec["channels_last"])
    infer = InferConfig(streaming=spec["mode"] != "whole", spill=spec["mode"] == "spill", tile=spec["tile"],
                        tile_overlap=spec["overlap"], spill_dir=spec["spill_dir"])
    baseline = _rss_mb()
    with open(spec["out"], "wb") as sink:
        if spec["mode"] == "whole":
            clip = torch.cat([noisy_frame(clean_frame(h, w, t), t) for t in range(t_len)]).unsqueeze(0)
            start, cpu = time.perf_counter(), time.process_time()
            den = denoise_clip(net, clip, SIGMA, infer=None, speed=speed)
            elapsed, cpu = time.perf_counter() - start, time.process_time() - cpu
            for t in range(t_len):
                sink.write(den[0, t].numpy().tobytes())
        else:
            frames = (noisy_frame(clean_frame(h, w, t), t) for t in range(t_len))
            start, cpu = time.perf_counter(), time.process_time()
            with open(spec["out"] + ".log", "w") as log:  # progress and peak so far, for runs cut short
                for t, den in enumerate(denoise_frames(net, frames, SIGMA, infer=infer, speed=speed)):
                    sink.write(den[0].numpy().tobytes())
                    log.write(f"frame {t} {time.perf_counter() - start:.1f} s peak {_peak_mb():.0f} MB\n")
                    log.flush()
            elapsed, cpu = time.perf_counter() - start, time.process_time() - cpu
    peak = _peak_mb()
    return {"seconds": elapsed, "cpu_seconds": cpu, "peak_mb": peak, "baseline_mb": baseline}


def run(spec: dict) -> dict:
    """Run ``spec`` in a fresh interpreter and return its result."""
    proc = subprocess.run([sys.executable, __file__, "--worker", json.dumps(spec)], capture_output=True, text=True)
    if proc.returncode:
        raise RuntimeError(f"worker failed for {spec}:\n{proc.stderr[-3000:]}")
    return json.loads(proc.stdout.strip().splitlines()[-1])


# ----------------------------------------------------------------------------- comparison
def read_outputs(path: str, t_len: int, h: int, w: int) -> np.ndarray:
    return np.fromfile(path, dtype=np.float32).reshape(t_len, 3, h, w)


def psnr(a: np.ndarray, b: np.ndarray) -> float:
    mse = float(np.mean((a.astype(np.float64) - b.astype(np.float64)) ** 2))
    return float("inf") if mse == 0 else 10 * np.log10(1.0 / mse)


def clean_psnr(out: np.ndarray, h: int, w: int) -> float:
    """Mean over frames of the per-frame PSNR against the clean frames (the paper's protocol)."""
    return float(np.mean([psnr(out[t], clean_frame(h, w, t)) for t in range(out.shape[0])]))


# ----------------------------------------------------------------------------- plan
def label(spec: dict) -> str:
    parts = [spec["mode"], spec["precision"]] + (["CL"] if spec["channels_last"] else [])
    if spec["tile"]:
        parts.append(f"tile{spec['tile']}+{spec['overlap']}")
    return " ".join(parts)


def plan(args: argparse.Namespace) -> list[tuple[str, list[dict], int]]:
    """Groups of (title, specs, repeats); the first spec of a group is its reference."""
    base = {"threads": args.threads, "width": 64, "checkpoint": args.checkpoint, "tile": 0, "overlap": 0,
            "spill_dir": args.spill_dir, "channels_last": False, "precision": "fp32"}

    def spec(h, w, t, mode, **kw) -> dict:
        return {**base, "h": h, "w": w, "t": t, "mode": mode, **kw}

    fast = {"precision": "bf16", "channels_last": True}
    groups = [
        ("speed 256x256 T=10 (interleaved)", [
            spec(256, 256, 10, "whole"),
            spec(256, 256, 10, "spill"),
            spec(256, 256, 10, "spill", **fast),
        ], args.repeats),
        ("exactness, width 16, 256x256 T=85", [
            spec(256, 256, 85, "whole", width=16),
            spec(256, 256, 85, "spill", width=16),
            spec(256, 256, 85, "recompute", width=16),
        ], 1),
        ("memory vs T, 256x256", [
            *[spec(256, 256, t, "spill", **fast) for t in (10, 85)],
            *[spec(256, 256, t, "recompute", **fast) for t in (10, 85)],
        ], 1),
        ("960x540", [spec(540, 960, 10, "spill", **fast)], 1),
    ]
    if args.full:
        groups += [
            ("speed 256x256 T=10, each switch (interleaved)", [
                spec(256, 256, 10, "whole"),
                spec(256, 256, 10, "spill", channels_last=True),
                spec(256, 256, 10, "spill", precision="bf16"),
                spec(256, 256, 10, "whole", **fast),
            ], args.repeats),
            ("memory vs T, 256x256, fp32", [
                spec(256, 256, 40, "whole"),
                *[spec(256, 256, t, "spill") for t in (10, 40, 85)],
                *[spec(256, 256, t, "recompute") for t in (10, 85)],
            ], 1),
            ("memory vs T, 256x256, bf16", [spec(256, 256, 40, "spill", **fast)], 1),
            ("960x540 long", [spec(540, 960, t, "spill", **fast) for t in (40, 85)] + [spec(540, 960, 85, "spill")], 1),
            ("960x540 tiled", [spec(540, 960, 10, "spill", **fast), spec(540, 960, 10, "spill", **fast, tile=256,
                                                                         overlap=128)], 1),
        ]
    return groups


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    size = parser.add_mutually_exclusive_group()
    size.add_argument("--quick", action="store_true", help="the acceptance figures (default)")
    size.add_argument("--full", action="store_true", help="also the long 960x540 clips and fp32 memory scans")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--repeats", type=int, default=3, help="interleaved repeats of the timed group")
    parser.add_argument("--checkpoint", help="trained model (default: random paper-width weights)")
    parser.add_argument("--spill-dir", help="folder for streaming spill files (default: system temp)")
    parser.add_argument("--only", help="run only the groups whose title contains this text")
    parser.add_argument("--keep", help="write the outputs (and per-frame progress logs) here instead of a temp dir")
    parser.add_argument("--worker", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.worker:
        print(json.dumps(worker(json.loads(args.worker))))
        return
    print(f"# bench_inference: {args.threads} threads, sigma 30, checkpoint {args.checkpoint or 'random paper width'}")
    with tempfile.TemporaryDirectory(dir=args.keep) as tmp:
        for title, specs, repeats in plan(args):
            if args.only and args.only not in title:
                continue
            print(f"\n## {title}  ({repeats} interleaved repeat(s), medians)")
            times: dict[int, list[float]] = {i: [] for i in range(len(specs))}
            cpu: dict[int, list[float]] = {i: [] for i in range(len(specs))}
            results: dict[int, dict] = {}
            for r in range(repeats):
                for i, s in enumerate(specs):
                    s["out"] = str(Path(tmp) / f"out{i}.f32")
                    results[i] = run(s)
                    print(f"  run {r} {s['w']}x{s['h']}x{s['t']} w{s['width']} {label(s)}: {results[i]}", flush=True)
                    times[i].append(results[i]["seconds"])
                    cpu[i].append(results[i]["cpu_seconds"])
            ref_spec = specs[0]
            ref = read_outputs(ref_spec["out"], ref_spec["t"], ref_spec["h"], ref_spec["w"])
            ref_time = statistics.median(times[0]) / ref_spec["t"]
            ref_cpu = statistics.median(cpu[0]) / ref_spec["t"]
            ref_clean = clean_psnr(ref, ref_spec["h"], ref_spec["w"])
            print(f"{'size':>9} {'T':>3} {'path':<28} {'s/frame':>8} {'fps':>6} {'speed-up':>8} {'cpu s/f':>8} {'cpu x':>6} {'peak MB':>8} "
                  f"{'base MB':>8} {'max|d|':>9} {'PSNR vs ref':>11} {'PSNR clean':>10} {'dPSNR':>8}")
            for i, s in enumerate(specs):
                spf = statistics.median(times[i]) / s["t"]
                cpf = statistics.median(cpu[i]) / s["t"]
                same = (s["h"], s["w"], s["t"]) == (ref_spec["h"], ref_spec["w"], ref_spec["t"])
                if same:
                    out = read_outputs(s["out"], s["t"], s["h"], s["w"])
                    cp = clean_psnr(out, s["h"], s["w"])
                    diff = f"{np.abs(out - ref).max():9.2e} {psnr(out, ref):11.2f} {cp:10.3f} {cp - ref_clean:+8.4f}"
                    speedup = f"{ref_time / spf:8.2f} {cpf:8.3f} {ref_cpu / cpf:6.2f}"
                else:
                    diff, speedup = f"{'':>9} {'':>11} {'':>10} {'':>8}", f"{'':>8} {cpf:8.3f} {'':>6}"
                size_txt = f"{s['w']}x{s['h']}" + (f"/w{s['width']}" if s["width"] != 64 else "")
                print(f"{size_txt:>9} {s['t']:>3} {label(s):<28} {spf:8.3f} {1 / spf:6.2f} {speedup} "
                      f"{results[i]['peak_mb']:8.0f} {results[i]['baseline_mb']:8.0f} {diff}", flush=True)


if __name__ == "__main__":
    main()
