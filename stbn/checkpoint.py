"""Model checkpoints: save atomically, load with clear errors, rebuild the model from the saved config.

A checkpoint is a ``torch.save``d dict: ``format``, ``step``, ``config`` (the full validated
experiment config as JSON types), ``provenance``, ``state_dict`` (the model, flow estimator included,
so no weights file is needed to load it), and for resumable training checkpoints also the optimiser,
scheduler and RNG states (see :mod:`stbn.training.run`); :func:`checkpoint_payload` makes every one. The
model is rebuilt by :func:`stbn.models.registry.build_model` (re-exported here) from the saved config's
``method``.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import torch

from stbn.config import ExperimentConfig, validate_config
from stbn.data.atomic import atomic_output
from stbn.errors import StbnError
from stbn.models.registry import Denoiser, build_model
from stbn.provenance import provenance

FORMAT = "stbn-checkpoint-v1"


def checkpoint_payload(cfg: ExperimentConfig, step: int, states: dict[str, Any], **extra: Any) -> dict[str, Any]:
    """What a checkpoint holds: ``step``, the config, provenance, ``states`` (at least ``state_dict``) and
    ``extra`` (e.g. ``rng``)."""
    return {"step": step, "config": cfg.model_dump(mode="json"), "provenance": provenance(), **states, **extra}


def save_checkpoint(path: str | Path, payload: dict[str, Any]) -> Path:
    """Write ``payload`` (with ``format`` added) to ``path`` atomically: a kill leaves the old file intact."""
    path = Path(path)
    with atomic_output(path) as tmp:
        torch.save({"format": FORMAT, **payload}, tmp)
    return path


def torch_load(path: str | Path) -> Any:
    """``torch.load`` on the CPU (tensors and plain containers only); a missing or unreadable file is a user error."""
    path = Path(path)
    if not path.is_file():
        raise StbnError(f"{path}: checkpoint not found")
    try:
        return torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:  # torch raises many types for foreign or damaged files
        raise StbnError(f"{path}: not a readable checkpoint ({str(exc).splitlines()[0][:200]})") from None


def read_checkpoint(path: str | Path) -> dict[str, Any]:
    """Load an stbn checkpoint dict on the CPU; missing, unreadable or foreign files are user errors."""
    payload = torch_load(path)
    if not isinstance(payload, dict) or payload.get("format") != FORMAT:
        raise StbnError(f"{path}: not an stbn checkpoint (expected format {FORMAT})")
    return payload


def checkpoint_config(path: str | Path, payload: dict[str, Any]) -> ExperimentConfig:
    """The validated config stored in a checkpoint."""
    return validate_config(payload.get("config") or {}, f"{path} (saved config)")


def load_model(
    path: str | Path, device: torch.device | str = "cpu", kind: str | None = None
) -> tuple[Denoiser, ExperimentConfig, dict[str, Any]]:
    """Rebuild and load the model of a checkpoint; ``kind`` ("srgb" | "raw") checks it fits the data.

    Returns ``(model in eval mode on device, config, payload)``.
    """
    payload = read_checkpoint(path)
    cfg = checkpoint_config(path, payload)
    if kind is not None and cfg.data.kind != kind:
        raise StbnError(f"{path}: holds a {cfg.data.kind} model, but the input is {kind}")
    net = build_model(cfg, flow_weights=False)
    try:
        net.load_state_dict(payload["state_dict"])
    except (KeyError, RuntimeError) as exc:
        raise StbnError(f"{path}: weights do not fit the saved config ({str(exc).splitlines()[0][:200]})") from None
    return net.to(device).eval(), cfg, payload
