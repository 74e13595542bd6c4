"""Build an experiment's network from its ``method``: one builder per method.

A method is a network module plus its config section; adding one is that module, its entry in
``ExperimentConfig.method`` with its section, and a line in :data:`BUILDERS`. What training and inference
call on a built network is in ``docs/methods.md``.
"""

from __future__ import annotations

from collections.abc import Callable

from stbn.config import ExperimentConfig
from stbn.models.network import STBN
from stbn.models.udvd import UDVD

Denoiser = STBN | UDVD


def build_stbn(cfg: ExperimentConfig, flow_weights: bool = True) -> STBN:
    """``STBN(**cfg.model)`` with the configured flow estimator (its weights file loaded if
    ``flow_weights``; a checkpoint's state dict replaces them anyway)."""
    flow = None
    if cfg.flow.estimator != "none":
        from stbn.models.flow import build_flow

        weights = cfg.flow.weights if flow_weights else None
        flow = build_flow(cfg.flow.estimator, weights=weights)
    return STBN(**cfg.model.model_dump(), flow=flow)


def build_udvd(cfg: ExperimentConfig, flow_weights: bool = True) -> UDVD:
    """``UDVD(**cfg.udvd)`` for ``cfg.data.kind``'s channels; ``flow_weights`` is unused (no flow)."""
    return UDVD(in_channels=3 if cfg.data.kind == "srgb" else 4, **cfg.udvd.model_dump())


BUILDERS: dict[str, Callable[[ExperimentConfig, bool], Denoiser]] = {"stbn": build_stbn, "udvd": build_udvd}
"""Builder of each value of ``ExperimentConfig.method``."""


def build_model(cfg: ExperimentConfig, flow_weights: bool = True) -> Denoiser:
    """The untrained network of ``cfg.method`` (see :data:`BUILDERS`)."""
    return BUILDERS[cfg.method](cfg, flow_weights)
