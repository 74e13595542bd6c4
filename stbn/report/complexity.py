"""Model size and cost: parameters, multiply-accumulates per frame counted with forward hooks, and the
training run's wall time per step.

Every ``Conv2d`` / ``ConvTranspose2d`` reports its multiply-accumulates through a forward hook
(``output elements x in_channels/groups x kernel area`` for a convolution, ``input elements x
out_channels/groups x kernel area`` for a transposed one); element-wise ops, warping and the OpenCV
DIS estimator are not counted. The model runs on PyTorch's ``meta`` device, so any frame size costs
no compute and no memory. "Per frame" is the steady-state cost of one more frame in a long clip: the
count for 3 frames minus the count for 2 (STBN: the first frame of each direction skips the BSA fusion;
UDVD: the edge windows share repeated triplets).
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import torch
import torch.nn as nn

from stbn.config import ExperimentConfig


def count_macs(model: nn.Module, run: Callable[[], object]) -> int:
    """Multiply-accumulates of all convolutions of ``model`` while ``run()`` executes."""
    total = 0

    def hook(module: nn.Module, inputs: tuple[torch.Tensor, ...], output: torch.Tensor) -> None:
        nonlocal total
        kernel = module.weight.shape[2] * module.weight.shape[3]
        if isinstance(module, nn.ConvTranspose2d):
            total += inputs[0].numel() * module.out_channels // module.groups * kernel
        else:
            total += output.numel() * module.in_channels // module.groups * kernel

    handles = [m.register_forward_hook(hook) for m in model.modules() if isinstance(m, nn.Conv2d | nn.ConvTranspose2d)]
    try:
        with torch.no_grad():
            run()
    finally:
        for h in handles:
            h.remove()
    return total


def frame_costs(cfg: ExperimentConfig, frame_size: tuple[int, int]) -> dict[str, object]:
    """Parameters and multiply-accumulates per frame of ``cfg``'s model (any method) at ``frame_size`` ``(H, W)``.

    Returns ``params`` (denoiser), ``flow params``, ``GMAC/frame`` (denoiser: STBN's recurrent step, UDVD's
    sliding window, one triplet encoding and one decoding) and ``flow GMAC/frame`` (None when the estimator
    is not a network, i.e. DIS, or the method has no flow, i.e. UDVD).
    """
    from stbn.models.registry import build_model

    net = build_model(cfg, flow_weights=False).to("meta").eval()
    h, w = frame_size
    aligns = hasattr(net, "estimate_flows")

    def denoiser(t: int) -> int:
        clip = torch.zeros(1, t, net.in_channels, h, w, device="meta")
        flows = {"flows": (torch.zeros(1, t - 1, 2, h, w, device="meta"),) * 2} if aligns else {}
        return count_macs(net, lambda: net(clip, noise_map=0.1, **flows))

    def flow(t: int) -> int:
        return count_macs(net.flow, lambda: net.flow(torch.zeros(1, t, 3, h, w, device="meta")))

    params = net.num_parameters()
    networked = aligns and cfg.flow.estimator != "dis"
    return {
        "params": params,
        "flow params": net.num_parameters(include_flow=True) - params if aligns else None,
        "GMAC/frame": (denoiser(3) - denoiser(2)) / 1e9,
        "flow GMAC/frame": (flow(3) - flow(2)) / 1e9 if networked else None,
    }


def checkpoint_costs(path: str | Path, frame_size: tuple[int, int]) -> dict[str, object]:
    """:func:`frame_costs` of the model saved in checkpoint ``path`` (its config decides the model), and
    ``s/step``: the wall time per optimisation step of the run that trained it (``step_seconds`` of
    ``stbn train``'s checkpoints; None for a checkpoint without it)."""
    from stbn.checkpoint import checkpoint_config, read_checkpoint

    payload = read_checkpoint(path)
    seconds, steps = payload.get("step_seconds"), payload.get("step") or 0
    return {
        **frame_costs(checkpoint_config(path, payload), frame_size),
        "s/step": seconds / steps if seconds is not None and steps else None,
    }
