"""Inference speed and memory: the fp32 eager whole-clip reference against streaming and the speed switches.

Every configuration runs in its own subprocess, so its memory is its own: the baseline resident memory
(interpreter, torch and the model's weights, taken in the child before the first frame is read), the
peak (``VmHWM``) and the peak minus the baseline are printed; within a group, the peak ratio between
the longest and the shortest clip of each path is printed too. Timed configurations are interleaved with
the reference and repeated, and medians are printed: wall seconds per frame and, because a shared machine
slows wall time unevenly, process CPU seconds per frame. Frames are real photographs (scikit-image's
bundled stills) panned 2 px right and 1 px down per frame, with AWGN sigma 30/255 from a fixed seed.
Outputs are compared with the group's reference run of the same clip: max |difference|, PSNR of the
output against the reference output, and PSNR against the clean frames.

Flows are estimated inside every timed run, on both sides of each comparison, by the estimator of
``--flow`` (default PWC-Net with random weights, as the published code aligns with PWC-Net; random flows
are non-zero, so the alignment path runs and is part of the exactness check). ``--checkpoint model.pt``
uses trained weights and their estimator for the paper-width groups (needed for meaningful PSNR against
the clean frames); the default is the paper-width model (64 channels) with seeded random weights. The
width-16 exactness group always uses a random model with ``--flow``.

    .venv/bin/python benchmarks/bench_inference.py --quick     # roughly 20-30 min on 2 idle cores
    .venv/bin/python benchmarks/bench_inference.py --full      # adds the groups below: roughly 2-3 h more

Acceptance (issue 8; the ``--only`` text selects groups by title):

- 8.1 streaming == whole clip to 1e-5, fp32, T up to 85: column ``max|d|`` of the exactness groups.
  ``--only exactness`` (width 16, 256x256, T=85, spill and recompute; ~5 min) and
  ``--full --only exactness`` (adds paper width, 256x256, T=85 against its whole-clip reference, and
  the fp32 memory scan at T=10/40; ~30-40 min, ~5 GB for the whole-clip run).
- 8.2 memory: ``--only memory`` prints the peak, baseline and peak minus baseline at 256x256 for T=10
  and T=85 and their ratio (bf16 + channels-last; ~10 min); ``--full --only memory`` adds the fp32 scan.
  The 960x540 x 85 clip at paper width: ``--full --only "960x540 long"`` (bf16 + channels-last, T=10 and
  T=85 and their peak ratio; ~40 min on 2 idle cores); ``--full --only "960x540 fp32"`` the same clip in
  fp32 (~1.2 h).
- 8.3 speed at paper width, 256x256, T=10, 2 threads: ``--only speed`` (columns ``s/frame`` and
  ``speed-up`` against the whole-clip fp32 reference, beside the published code's figures in the header;
  ~5-8 min); ``--full --only speed`` adds each switch alone. The PSNR part is ``bench_quality.py``.
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
from _common import (
    SIGMA,
    STILLS,
    add_flow_argument,
    denoise_clip,
    model,
    model_description,
    peak_rss_mb,
    psnr_of_mse,
    rss_mb,
)

from stbn.hardware import machine_line

PUBLISHED = ("published code (PWC-Net included), 256x256, paper width, 2 threads: 2.0-3.0 s/frame; "
             "peak 1.2 GB at T=10, 2.4 GB at T=40")


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
def worker(spec: dict) -> dict:
    """Denoise one clip as ``spec`` says; write the outputs to ``spec['out']``; return timings and memory
    (the baseline is taken once the model is built, before the first frame)."""
    import torch

    from stbn.config import InferConfig, SpeedConfig
    from stbn.engine import denoise

    torch.set_num_threads(spec["threads"])
    net = model(spec["checkpoint"], spec["width"], spec["flow"]).eval()
    h, w, t_len = spec["h"], spec["w"], spec["t"]
    speed = SpeedConfig(precision=spec["precision"], channels_last=spec["channels_last"])
    infer = InferConfig(streaming=spec["mode"] != "whole", spill=spec["mode"] == "spill", tile=spec["tile"],
                        tile_overlap=spec["overlap"], spill_dir=spec["spill_dir"])
    baseline = rss_mb()
    with open(spec["out"], "wb") as sink:
        if spec["mode"] == "whole":
            clip = torch.cat([noisy_frame(clean_frame(h, w, t), t) for t in range(t_len)]).unsqueeze(0)
            start, cpu = time.perf_counter(), time.process_time()
            den = denoise_clip(net, clip, SIGMA, speed=speed)
            elapsed, cpu = time.perf_counter() - start, time.process_time() - cpu
            for t in range(t_len):
                sink.write(den[0, t].numpy().tobytes())
        else:
            frames = (noisy_frame(clean_frame(h, w, t), t) for t in range(t_len))
            start, cpu = time.perf_counter(), time.process_time()
            with open(spec["out"] + ".log", "w") as log:  # progress and peak so far, for runs cut short
                for t, den in enumerate(denoise(net, frames, SIGMA, infer, speed)):
                    sink.write(den[0].numpy().tobytes())
                    log.write(f"frame {t} {time.perf_counter() - start:.1f} s peak {peak_rss_mb():.0f} MB\n")
                    log.flush()
            elapsed, cpu = time.perf_counter() - start, time.process_time() - cpu
    return {"seconds": elapsed, "cpu_seconds": cpu, "peak_mb": peak_rss_mb(), "baseline_mb": baseline}


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
    return psnr_of_mse(float(np.mean((a.astype(np.float64) - b.astype(np.float64)) ** 2)))


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
    base = {"threads": args.threads, "width": 64, "checkpoint": args.checkpoint, "flow": args.flow, "tile": 0,
            "overlap": 0, "spill_dir": args.spill_dir, "channels_last": False, "precision": "fp32"}

    def spec(h, w, t, mode, **kw) -> dict:
        return {**base, "h": h, "w": w, "t": t, "mode": mode, **kw}

    fast = {"precision": "bf16", "channels_last": True}
    narrow = {"width": 16, "checkpoint": None}  # always the random model with --flow
    groups = [
        ("speed 256x256 T=10 (interleaved)", [
            spec(256, 256, 10, "whole"),
            spec(256, 256, 10, "spill"),
            spec(256, 256, 10, "spill", **fast),
        ], args.repeats),
        ("exactness, width 16, 256x256 T=85", [
            spec(256, 256, 85, "whole", **narrow),
            spec(256, 256, 85, "spill", **narrow),
            spec(256, 256, 85, "recompute", **narrow),
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
            ("exactness and memory vs T, paper width, 256x256, fp32", [
                spec(256, 256, 85, "whole"),
                spec(256, 256, 40, "whole"),
                *[spec(256, 256, t, "spill") for t in (10, 40, 85)],
                *[spec(256, 256, t, "recompute") for t in (10, 85)],
            ], 1),
            ("memory vs T, 256x256, bf16", [spec(256, 256, 40, "spill", **fast)], 1),
            ("960x540 long", [spec(540, 960, t, "spill", **fast) for t in (10, 85)], 1),
            ("960x540 fp32", [spec(540, 960, 85, "spill")], 1),
            ("960x540 tiled", [spec(540, 960, 10, "spill", **fast), spec(540, 960, 10, "spill", **fast, tile=256,
                                                                         overlap=128)], 1),
        ]
    return groups


def clip_key(spec: dict) -> tuple:
    """What makes two runs denoise the same clip with the same model."""
    return spec["h"], spec["w"], spec["t"], spec["width"], spec["checkpoint"], spec["flow"]


def print_group(specs: list[dict], results: dict[int, dict], times: dict[int, list[float]],
                cpu: dict[int, list[float]]) -> None:
    """The group's table against its first spec, then the peak ratio of each path over its clip lengths."""
    ref_spec = specs[0]
    ref = read_outputs(ref_spec["out"], ref_spec["t"], ref_spec["h"], ref_spec["w"])
    ref_time = statistics.median(times[0]) / ref_spec["t"]
    ref_cpu = statistics.median(cpu[0]) / ref_spec["t"]
    ref_clean = clean_psnr(ref, ref_spec["h"], ref_spec["w"])
    print(f"{'size':>9} {'T':>3} {'path':<28} {'s/frame':>8} {'fps':>6} {'speed-up':>8} {'cpu s/f':>8} {'cpu x':>6} "
          f"{'peak MB':>8} {'base MB':>8} {'peak-base':>9} {'max|d|':>9} {'PSNR vs ref':>11} {'PSNR clean':>10} "
          f"{'dPSNR':>8}")
    for i, s in enumerate(specs):
        spf = statistics.median(times[i]) / s["t"]
        cpf = statistics.median(cpu[i]) / s["t"]
        if clip_key(s) == clip_key(ref_spec):
            out = read_outputs(s["out"], s["t"], s["h"], s["w"])
            cp = clean_psnr(out, s["h"], s["w"])
            diff = f"{np.abs(out - ref).max():9.2e} {psnr(out, ref):11.2f} {cp:10.3f} {cp - ref_clean:+8.4f}"
            speedup = f"{ref_time / spf:8.2f} {cpf:8.3f} {ref_cpu / cpf:6.2f}"
        else:
            diff, speedup = f"{'':>9} {'':>11} {'':>10} {'':>8}", f"{'':>8} {cpf:8.3f} {'':>6}"
        size_txt = f"{s['w']}x{s['h']}" + (f"/w{s['width']}" if s["width"] != 64 else "")
        peak, base = results[i]["peak_mb"], results[i]["baseline_mb"]
        print(f"{size_txt:>9} {s['t']:>3} {label(s):<28} {spf:8.3f} {1 / spf:6.2f} {speedup} "
              f"{peak:8.0f} {base:8.0f} {peak - base:9.0f} {diff}", flush=True)
    paths: dict[tuple, list[int]] = {}
    for i, s in enumerate(specs):
        paths.setdefault((s["w"], s["h"], s["width"], label(s)), []).append(i)
    for (w, h, _, name), idx in paths.items():
        if len(idx) > 1:
            lo, hi = min(idx, key=lambda i: specs[i]["t"]), max(idx, key=lambda i: specs[i]["t"])
            (p_lo, b_lo), (p_hi, b_hi) = ((results[i]["peak_mb"], results[i]["baseline_mb"]) for i in (lo, hi))
            print(f"  {w}x{h} {name}: peak T={specs[hi]['t']} / T={specs[lo]['t']} = {p_hi / p_lo:.3f} "
                  f"({(p_hi / p_lo - 1) * 100:+.1f}%); above baseline {(p_hi - b_hi) / (p_lo - b_lo):.3f}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    size = parser.add_mutually_exclusive_group()
    size.add_argument("--quick", action="store_true", help="the acceptance figures (default)")
    size.add_argument("--full", action="store_true",
                      help="also each switch alone, paper-width T=85 exactness, fp32 memory scans, 960x540 x 85")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--repeats", type=int, default=3, help="interleaved repeats of the timed groups")
    parser.add_argument("--checkpoint", help="trained sRGB model, with its own flow estimator, for the paper-width "
                        "groups (default: random paper-width weights)")
    add_flow_argument(parser)
    parser.add_argument("--spill-dir", help="folder for streaming spill files (default: system temp)")
    parser.add_argument("--only", help="run only the groups whose title contains this text")
    parser.add_argument("--keep", help="write the outputs (and per-frame progress logs) here instead of a temp dir")
    parser.add_argument("--worker", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.worker:
        print(json.dumps(worker(json.loads(args.worker))))
        return
    print(f"# bench_inference: {args.threads} threads, sigma 30\n# {PUBLISHED}\n# {machine_line()}")
    with tempfile.TemporaryDirectory(dir=args.keep) as tmp:
        for title, specs, repeats in plan(args):
            if args.only and args.only not in title:
                continue
            ref = specs[0]
            print(f"\n## {title}  ({repeats} interleaved repeat(s), medians)\n"
                  f"# model: {model_description(ref['checkpoint'], ref['width'], ref['flow'])}")
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
            print_group(specs, results, times, cpu)


if __name__ == "__main__":
    main()
