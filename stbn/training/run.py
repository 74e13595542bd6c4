"""The resumable training run (``stbn train``): data, the step loop, validation, checkpoints and the log.

Outputs of :func:`train` in ``out``: ``last.pt`` (resumable: model, optimiser, scheduler, RNG states,
config, provenance) every ``checkpoint_every`` steps and at the end, ``model.pt`` (final weights,
config, provenance), ``config.json`` and ``log.csv`` (step, loss, lr, val_psnr). Both checkpoints record
``step_seconds``, the wall time of the run's optimisation steps (drawing the batch included; validation
and checkpoints not), carried over a resume: the report's seconds per step (``stbn.report.complexity``).
Batches depend only on ``(seed, step)`` (:mod:`stbn.data.clips`), so resuming from ``last.pt`` continues
bit-identically.
Validation denoises exactly as ``stbn evaluate`` does (:func:`stbn.evaluation.protocol.denoise_sequence`).
"""

from __future__ import annotations

import csv
import json
import time
from pathlib import Path
from typing import Any

import numpy as np
import torch
from tqdm import tqdm

from stbn.checkpoint import build_model, checkpoint_config, checkpoint_payload, read_checkpoint, save_checkpoint
from stbn.config import ExperimentConfig
from stbn.data.atomic import atomic_output
from stbn.data.clips import TrainingClips
from stbn.data.io import list_sequences, read_sequence
from stbn.data.raw import crvd_scenes, read_crvd_sequence
from stbn.device import set_threads
from stbn.errors import StbnError
from stbn.evaluation.metrics import frame_psnr, hierarchical_mean
from stbn.evaluation.protocol import EvalSequence, denoise_sequence, raw_test_sequences, srgb_test_sequences
from stbn.models.registry import Denoiser
from stbn.training.rng import rng_states, seed_everything, set_rng_states
from stbn.training.trainer import Trainer

LOG_FIELDS = ("step", "loss", "lr", "val_psnr")


def load_training_sequences(cfg: ExperimentConfig) -> list[np.ndarray]:
    """Clean training sequences ``(T, H, W, C)`` from ``data.train_root``: sRGB sequence folders (only those
    of ``data.sequences`` if given), or CRVD clean ground truth of every scene at every configured ISO."""
    d = cfg.data
    if d.train_root is None:
        raise StbnError("data.train_root is not set (e.g. --set data.train_root=DIR)")
    if d.kind == "srgb":
        folders = list_sequences(d.train_root)
        if d.sequences is not None:
            missing = sorted(set(d.sequences) - {f.name for f in folders})
            if missing:
                raise StbnError(f"{d.train_root}: no sequence {', '.join(missing)} (data.sequences)")
            folders = [f for f in folders if f.name in d.sequences]
        return [read_sequence(folder, d.max_frames) for folder in folders]
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


def validation_psnr(net: Denoiser, sequences: list[EvalSequence], cfg: ExperimentConfig) -> float:
    """Mean PSNR over frames, then sequences, by the evaluation protocol, denoised as ``stbn evaluate``
    denoises (the config's ``infer`` and ``speed``)."""
    rows = []
    for seq in sequences:
        den = denoise_sequence(net, seq, cfg)
        rows += [{"sequence": seq.name, "psnr": frame_psnr(seq.clean[t], f, cfg.data.kind)} for t, f in enumerate(den)]
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
    start, seconds = (int(state["step"]), float(state.get("step_seconds", 0.0))) if state is not None else (0, 0.0)
    trainer = Trainer(cfg, net, steps=cfg.train.iterations - start)
    if state is not None:
        trainer.load_state_dict(state)
        set_rng_states(state["rng"])
    out.mkdir(parents=True, exist_ok=True)
    with atomic_output(out / "config.json") as tmp:
        tmp.write_text(json.dumps(cfg.model_dump(mode="json"), indent=2))
    log = CsvLog(out / "log.csv", start)
    iters, t = cfg.train.iterations, cfg.train
    bar = tqdm(range(start, iters), initial=start, total=iters, desc="train", disable=not progress, dynamic_ncols=True)
    try:
        for step in bar:
            tick = time.perf_counter()
            loss, lr = trainer.step(clips.batch(step), step)
            seconds += time.perf_counter() - tick
            done = step + 1
            val_psnr = ""
            if val and ((t.val_every and done % t.val_every == 0) or done == iters):
                val_psnr = f"{validation_psnr(net, val, cfg):.4f}"
            log.append(step=done, loss=f"{loss:.9g}", lr=f"{lr:.9g}", val_psnr=val_psnr)
            bar.set_postfix(loss=f"{loss:.4g}", lr=f"{lr:.2g}")
            if done % t.checkpoint_every == 0 or done == iters:
                states = trainer.state_dict()
                save_checkpoint(last, checkpoint_payload(cfg, done, states, rng=rng_states(), step_seconds=seconds))
    finally:
        log.close()
    weights = {"state_dict": net.state_dict()}
    save_checkpoint(final, checkpoint_payload(cfg, max(start, iters), weights, step_seconds=seconds))
    return final


