"""Training: the optimisation step, the resumable training run, and self-supervised fitting on one video.

Loss: Gaussian NLL for Gaussian heads (sRGB), sum-reduced L2 to the noisy input for direct heads
(raw); plus the flow-distillation loss when configured. With flow re-estimation (``flow.refinement``
``reestimate``) the flows are re-estimated from ``flow.distill.start_step`` on: one more forward pass
without gradient per step (:mod:`stbn.engine.flows`). Adam over the denoiser (and the flow
student as its own parameter group), MultiStepLR, gradient-norm clipping, all from the config.

Outputs of :func:`train` in ``out``: ``last.pt`` (resumable: model, optimiser, scheduler, RNG states,
config, provenance) every ``checkpoint_every`` steps and at the end, ``model.pt`` (final weights,
config, provenance), ``config.json`` and ``log.csv`` (step, loss, lr, val_psnr). Batches depend only
on ``(seed, step)`` (:mod:`stbn.data.clips`), so resuming from ``last.pt`` continues bit-identically.
"""

from __future__ import annotations

import csv
import json
import random
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import torch
from tqdm import tqdm

from stbn.checkpoint import build_model, checkpoint_config, read_checkpoint, save_checkpoint
from stbn.config import ExperimentConfig
from stbn.data.atomic import atomic_output
from stbn.data.clips import Batch, TrainingClips
from stbn.data.io import list_sequences, read_sequence
from stbn.data.raw import crvd_scenes, read_crvd_sequence
from stbn.device import set_threads
from stbn.distill import FlowDistillation, denoiser_parameters
from stbn.errors import StbnError
from stbn.engine.flows import reestimated_flows
from stbn.losses import gaussian_nll, raw_l2
from stbn.metrics import frame_psnr, hierarchical_mean
from stbn.models import STBN
from stbn.protocol import EvalSequence, denoise_sequence, raw_test_sequences, srgb_test_sequences
from stbn.provenance import provenance
from stbn.engine.speed import autocast, prepare_model

LOG_FIELDS = ("step", "loss", "lr", "val_psnr")


def seed_everything(seed: int) -> None:
    """Seed python's, numpy's and torch's global generators (model initialisation uses torch's)."""
    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)


def rng_states() -> dict[str, Any]:
    """The global RNG states, in types ``torch.load(weights_only=True)`` accepts."""
    kind, keys, pos, has_gauss, gauss = np.random.get_state()
    return {
        "torch": torch.get_rng_state(),
        "numpy": [kind, torch.from_numpy(keys.astype(np.int64)), pos, has_gauss, gauss],
        "python": random.getstate(),
    }


def set_rng_states(states: dict[str, Any]) -> None:
    """Restore :func:`rng_states`."""
    torch.set_rng_state(states["torch"])
    kind, keys, pos, has_gauss, gauss = states["numpy"]
    np.random.set_state((kind, keys.numpy().astype(np.uint32), pos, has_gauss, gauss))
    version, internal, gauss_next = states["python"]
    random.setstate((version, tuple(internal), gauss_next))


def lr_scale(progress: float, milestones: list[float], gamma: float) -> float:
    """MultiStepLR's factor at ``progress`` with milestones given on the same scale (steps or fractions)."""
    return gamma ** sum(progress >= m for m in milestones)


class Trainer:
    """One optimisation step at a time: loss, NaN/inf guard, backward, clipping, Adam, schedule."""

    def __init__(self, cfg: ExperimentConfig, net: STBN) -> None:
        self.cfg, self.net = cfg, prepare_model(net, cfg.speed.channels_last)
        self.distill: FlowDistillation | None = None
        if cfg.flow.refinement == "distill":
            d = cfg.flow.distill
            self.distill = FlowDistillation(net.flow, lam=d.lam, reg=d.reg, start_step=d.start_step)
        else:
            net.flow.requires_grad_(False)
        groups: list[dict[str, Any]] = [{"params": denoiser_parameters(net), "lr": cfg.train.lr}]
        if self.distill is not None:
            groups += self.distill.param_groups(cfg.flow.distill.lr)
        self.optimizer = torch.optim.Adam(groups)
        self.scheduler = torch.optim.lr_scheduler.MultiStepLR(self.optimizer, cfg.train.milestones, cfg.train.gamma)

    def loss(self, batch: Batch, step: int) -> torch.Tensor:
        """The training loss of one batch (moved to the model's device)."""
        device = next(self.net.parameters()).device
        noisy = batch.noisy.to(device)
        sigma = batch.sigma.to(device) if batch.sigma is not None else None
        precision = self.cfg.speed.precision
        m = sigma if self.net.uses_noise_map else None
        flows = tuple(f.to(device) for f in batch.flows) if batch.flows is not None else self.net.estimate_flows(noisy)
        if self.cfg.flow.reestimates and step >= self.cfg.flow.distill.start_step:
            with torch.no_grad(), autocast(precision, device):
                first = self.net(noisy, noise_map=m, flows=flows)
            flows = reestimated_flows(self.net, first.to(noisy.dtype))
        with autocast(precision, device):
            out = self.net(noisy, noise_map=m, flows=flows)
        if self.net.head_kind != "gaussian":
            loss = raw_l2(out, noisy)
        else:
            try:
                loss = gaussian_nll(out, noisy, sigma)
            except torch.linalg.LinAlgError:  # a non-finite output breaks the Cholesky factorisation
                loss = out.new_tensor(float("nan"))
        if self.distill is not None:
            mu = out[:, :, : self.net.in_channels].detach().to(noisy.dtype)  # bf16 under autocast
            loss = loss + self.distill.loss(self.net.flow_frames(noisy), self.net.flow_frames(mu), step)
        return loss

    def step(self, batch: Batch, step: int, scale: float | None = None) -> tuple[float, float]:
        """One optimisation step; returns ``(loss, lr)``. ``scale`` replaces the step schedule by
        ``initial lr * scale`` (used by time-budgeted fitting)."""
        if scale is not None:
            for group in self.optimizer.param_groups:
                group["lr"] = group["initial_lr"] * scale
        lr = self.optimizer.param_groups[0]["lr"]
        self.net.train()
        self.optimizer.zero_grad(set_to_none=True)
        loss = self.loss(batch, step)
        if not torch.isfinite(loss):
            raise StbnError(
                f"step {step}: the loss is {loss.item()} (not finite); training stopped. "
                "Lower train.lr, enable train.grad_clip or check the data; resume from the last checkpoint"
            )
        loss.backward()
        if self.cfg.train.grad_clip is not None:
            norm = torch.nn.utils.clip_grad_norm_(self.net.parameters(), self.cfg.train.grad_clip)
            if not torch.isfinite(norm):
                raise StbnError(f"step {step}: the gradient norm is {norm.item()} (not finite); training stopped")
        self.optimizer.step()
        if scale is None:
            self.scheduler.step()
        return float(loss.item()), float(lr)

    def state_dict(self) -> dict[str, Any]:
        """Model, optimiser, scheduler (and distillation teacher) states."""
        state = {
            "state_dict": self.net.state_dict(),
            "optimizer": self.optimizer.state_dict(),
            "scheduler": self.scheduler.state_dict(),
        }
        if self.distill is not None:
            state["distill"] = self.distill.state_dict()
        return state

    def load_state_dict(self, state: dict[str, Any]) -> None:
        """Restore :meth:`state_dict`."""
        self.net.load_state_dict(state["state_dict"])
        self.optimizer.load_state_dict(state["optimizer"])
        self.scheduler.load_state_dict(state["scheduler"])
        if self.distill is not None:
            self.distill.load_state_dict(state["distill"])


def load_training_sequences(cfg: ExperimentConfig) -> list[np.ndarray]:
    """Clean training sequences ``(T, H, W, C)`` from ``data.train_root``: sRGB sequence folders, or
    CRVD clean ground truth of every scene at every configured ISO."""
    d = cfg.data
    if d.train_root is None:
        raise StbnError("data.train_root is not set (e.g. --set data.train_root=DIR)")
    if d.kind == "srgb":
        return [read_sequence(folder, d.max_frames) for folder in list_sequences(d.train_root)]
    root = Path(d.train_root)
    scenes = crvd_scenes(root)
    if not scenes:
        raise StbnError(f"{root}: no CRVD scenes (expected indoor_raw_gt/…scene<N>/)")
    return [read_crvd_sequence(root, s, iso, realisation=None)[: d.max_frames] for s in scenes for iso in d.isos]


def load_validation_sequences(cfg: ExperimentConfig) -> list[EvalSequence]:
    """Validation sequences with the evaluation protocol's noise (empty without ``data.val_root``)."""
    d = cfg.data
    if d.val_root is None:
        return []
    if d.kind == "srgb":
        return list(srgb_test_sequences(d.val_root, d.val_sigma, d.val_max_frames))
    return list(raw_test_sequences(d.val_root, d.val_iso, d.val_max_frames))


def validation_psnr(net: STBN, sequences: list[EvalSequence], cfg: ExperimentConfig) -> float:
    """Mean PSNR over frames, then sequences, by the evaluation protocol, denoised as ``stbn evaluate``
    denoises (the config's ``infer`` and ``speed``)."""
    rows = []
    for seq in sequences:
        den = denoise_sequence(net, seq, cfg)
        rows += [{"sequence": seq.name, "psnr": frame_psnr(seq.clean[t], den[t], cfg.data.kind)} for t in range(len(den))]
    return hierarchical_mean(rows, ("sequence",), "psnr")


class CsvLog:
    """``log.csv`` appended and flushed per step; on resume, rows after the checkpoint are dropped."""

    def __init__(self, path: Path, keep_until: int) -> None:
        rows = []
        if keep_until > 0 and path.is_file():
            with path.open(newline="") as f:
                rows = [r for r in csv.DictReader(f) if int(r["step"]) <= keep_until]
        with atomic_output(path) as tmp, tmp.open("w", newline="") as f:
            writer = csv.DictWriter(f, LOG_FIELDS)
            writer.writeheader()
            writer.writerows(rows)
        self._file = path.open("a", newline="")
        self._writer = csv.DictWriter(self._file, LOG_FIELDS)

    def append(self, **row: object) -> None:
        """Write one row and flush it."""
        self._writer.writerow(row)
        self._file.flush()

    def close(self) -> None:
        """Close the file."""
        self._file.close()


def _flatten(d: dict[str, Any], prefix: str = "") -> dict[str, Any]:
    flat: dict[str, Any] = {}
    for k, v in d.items():
        flat.update(_flatten(v, f"{prefix}{k}.") if isinstance(v, dict) else {f"{prefix}{k}": v})
    return flat


RESUME_MAY_CHANGE = frozenset({"train.iterations", "train.checkpoint_every", "train.val_every", "train.threads"})


def _check_resumable(path: Path, saved: ExperimentConfig, cfg: ExperimentConfig) -> None:
    """Resuming needs the same config apart from run length and bookkeeping (:data:`RESUME_MAY_CHANGE`)."""
    a, b = _flatten(saved.model_dump(mode="json")), _flatten(cfg.model_dump(mode="json"))
    diff = [k for k in a if a[k] != b[k] and k not in RESUME_MAY_CHANGE]
    if diff:
        raise StbnError(f"{path}: cannot resume, the config differs in {', '.join(diff)} (use another --out)")


def train(
    cfg: ExperimentConfig,
    out: str | Path,
    device: torch.device | str = "cpu",
    resume: bool = False,
    sequences: list[np.ndarray] | None = None,
    validation: list[EvalSequence] | None = None,
    progress: bool = True,
) -> Path:
    """Train (or resume, from ``out/last.pt``) and return the path of ``out/model.pt``.

    ``sequences``/``validation`` default to the folders named in ``cfg.data``. Everything is checked
    (config, data, an existing run) before the first step.
    """
    out = Path(out)
    last, final = out / "last.pt", out / "model.pt"
    if last.exists() and not resume:
        raise StbnError(f"{out}: holds a training run (last.pt); pass --resume to continue it or use another --out")
    state = read_checkpoint(last) if resume and last.exists() else None
    if state is not None:
        _check_resumable(last, checkpoint_config(last, state), cfg)
    set_threads(cfg.train.threads)
    seed_everything(cfg.train.seed)
    clean = load_training_sequences(cfg) if sequences is None else sequences
    val = load_validation_sequences(cfg) if validation is None else validation
    clips = TrainingClips.from_config(cfg.data, clean, cfg.train.seed)
    net = build_model(cfg).to(device)
    trainer = Trainer(cfg, net)
    start = 0
    if state is not None:
        trainer.load_state_dict(state)
        set_rng_states(state["rng"])
        start = int(state["step"])
    out.mkdir(parents=True, exist_ok=True)
    with atomic_output(out / "config.json") as tmp:
        tmp.write_text(json.dumps(cfg.model_dump(mode="json"), indent=2))
    log = CsvLog(out / "log.csv", start)
    iters, t = cfg.train.iterations, cfg.train
    bar = tqdm(range(start, iters), initial=start, total=iters, desc="train", disable=not progress, dynamic_ncols=True)
    try:
        for step in bar:
            loss, lr = trainer.step(clips.batch(step), step)
            done = step + 1
            val_psnr = ""
            if val and ((t.val_every and done % t.val_every == 0) or done == iters):
                val_psnr = f"{validation_psnr(net, val, cfg):.4f}"
            log.append(step=done, loss=f"{loss:.9g}", lr=f"{lr:.9g}", val_psnr=val_psnr)
            bar.set_postfix(loss=f"{loss:.4g}", lr=f"{lr:.2g}")
            if done % t.checkpoint_every == 0 or done == iters:
                save_checkpoint(last, _payload(cfg, done, trainer.state_dict(), rng=rng_states()))
    finally:
        log.close()
    save_checkpoint(final, _payload(cfg, max(start, iters), {"state_dict": net.state_dict()}))
    return final


def _payload(cfg: ExperimentConfig, step: int, states: dict[str, Any], **extra: Any) -> dict[str, Any]:
    return {"step": step, "config": cfg.model_dump(mode="json"), "provenance": provenance(), **states, **extra}


def fit(
    net: STBN,
    cfg: ExperimentConfig,
    noisy: np.ndarray,
    sigma_255: float | None,
    steps: int | None = None,
    minutes: float | None = None,
    progress: bool = True,
    clock: Callable[[], float] = time.monotonic,
) -> list[tuple[float, float]]:
    """Self-supervised fitting of ``net`` on one noisy video ``(T, H, W, C)``; returns ``(loss, lr)`` per step.

    Runs ``steps`` steps, or as many as end within ``minutes`` (a step is not started when the mean time per
    step so far, setup included, would take it past the budget); the config's milestones (as fractions of
    ``train.iterations``) are stretched over that budget, so the learning rate ends decayed either way.
    Clips are ``min(T, clip_length)`` frames with crops ``min(crop, H, W)``, stride 1. A fixed flow
    estimator (not ``none``, not distilled) runs once on the whole video, inside the time budget, and
    the steps take crops of its flows (with re-estimation, the flows of the first pass).
    """
    if (steps is None) == (minutes is None):
        raise ValueError("fit: give exactly one of steps and minutes")
    start = clock()
    d, t = cfg.data, cfg.train
    flows = None
    if cfg.flow.estimator != "none" and cfg.flow.refinement != "distill":
        video = torch.from_numpy(np.ascontiguousarray(noisy)).permute(0, 3, 1, 2).unsqueeze(0)
        flows = [tuple(f[0].cpu() for f in net.estimate_flows(video.to(next(net.parameters()).device)))]
    clips = TrainingClips(
        d.kind, min(d.clip_length, noisy.shape[0]), 1, min(d.crop, *noisy.shape[1:3]), d.batch_size, t.seed,
        noisy=[noisy], sigma_range=(sigma_255 or 0.0,) * 2, flows=flows, augment=d.augment,
    )
    trainer = Trainer(cfg, net)
    fractions = [m / t.iterations for m in t.milestones]
    budget = steps if steps is not None else minutes * 60.0
    bar = tqdm(total=steps, desc="fit", disable=not progress, dynamic_ncols=True, unit="step")
    history: list[tuple[float, float]] = []
    while True:
        used = len(history) if steps is not None else clock() - start
        ahead = 1 if steps is not None else (used / len(history) if history else 0.0)  # the next step's cost
        if used + ahead > budget:
            break
        step = len(history)
        loss, lr = trainer.step(clips.batch(step), step, scale=lr_scale(used / budget, fractions, t.gamma))
        history.append((loss, lr))
        bar.update(1)
        bar.set_postfix(loss=f"{loss:.4g}", lr=f"{lr:.2g}")
    bar.close()
    net.eval()
    return history
