"""One optimisation step at a time: the loss, the NaN/inf guard, backward, clipping, Adam, the schedule.

The same for every method (``docs/methods.md``). Loss: Gaussian NLL for Gaussian heads (sRGB), sum-reduced
L2 to the noisy input for direct heads (raw); plus the flow-distillation loss when configured
(:mod:`stbn.training.distill`). A method with a flow estimator (STBN: ``estimate_flows``) gets the batch's
flows or its estimator's; one without (UDVD) gets none. With flow re-estimation (``flow.refinement``
``reestimate``) the flows are re-estimated from ``flow.distill.start_step`` on: one more forward pass
without gradient per step (:mod:`stbn.engine.flows`). Adam over the denoiser (and the flow student as its
own parameter group), MultiStepLR, gradient-norm clipping, all from the config.
"""

from __future__ import annotations

from typing import Any

import torch

from stbn.config import ExperimentConfig
from stbn.data.clips import Batch
from stbn.engine.flows import reestimated_flows
from stbn.engine.speed import autocast, prepare_model, resolve
from stbn.errors import StbnError
from stbn.models.losses import gaussian_nll, raw_l2
from stbn.models.registry import Denoiser
from stbn.training.distill import FlowDistillation, denoiser_parameters


def lr_scale(progress: float, milestones: list[float], gamma: float) -> float:
    """MultiStepLR's factor at ``progress`` with milestones given on the same scale (steps or fractions)."""
    return gamma ** sum(progress >= m for m in milestones)


class Trainer:
    """One optimisation step at a time: loss, NaN/inf guard, backward, clipping, Adam, schedule."""

    def __init__(
        self, cfg: ExperimentConfig, net: Denoiser, steps: int | None = None, minutes: float | None = None,
    ) -> None:
        """``steps`` or ``minutes``: how long the run will train, if known (``speed.compile: auto`` compiles
        only runs known to be long)."""
        self.speed = resolve(cfg.speed, next(net.parameters()).device, training=True, steps=steps, minutes=minutes)
        self.cfg, self.net = cfg, prepare_model(net, self.speed.channels_last)
        # the compiled module shares the network's parameters; checkpoints and first passes use the network
        self.forward = torch.compile(self.net, dynamic=False) if self.speed.compile else self.net
        self.aligns = hasattr(net, "estimate_flows")
        self.distill: FlowDistillation | None = None
        if cfg.flow.refinement == "distill":
            d = cfg.flow.distill
            self.distill = FlowDistillation(net.flow, lam=d.lam, reg=d.reg, start_step=d.start_step)
        elif self.aligns:
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
        precision = self.speed.precision
        m = sigma if self.net.uses_noise_map else None
        flows = {}
        if self.aligns:
            given = batch.flows is not None
            pairs = tuple(f.to(device) for f in batch.flows) if given else self.net.estimate_flows(noisy)
            if self.cfg.flow.reestimates and step >= self.cfg.flow.distill.start_step:
                with torch.no_grad(), autocast(precision, device):
                    first = self.net(noisy, noise_map=m, flows=pairs)
                pairs = reestimated_flows(self.net, first.to(noisy.dtype))
            flows = {"flows": pairs}
        with autocast(precision, device):
            out = self.forward(noisy, noise_map=m, **flows)
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
