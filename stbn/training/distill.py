"""Flow refinement by distillation ("Flow Refinement in Noise", STBN_SPEC.md section 5.3).

The denoiser aligns its states with flow estimated from *noisy* frames. From ``start_step`` on, a
trainable student estimator (the model's own, on the noisy frames) is pulled towards a frozen teacher
that sees the denoiser's pseudo-clean mean ``mu`` (detached):

    L_flow = lam * ( L1(teacher(mu).bwd, student(x).bwd) + L1(teacher(mu).fwd, student(x).fwd)
                     + reg * sum_theta ||theta||_2 )

with L1 the mean absolute difference and ``||theta||_2`` the un-squared norm of each student tensor
(defaults lam = 5e-4, reg = 4e-4; the paper's 1000-step delay). The student gets its own learning rate
(:meth:`FlowDistillation.param_groups`). Nearest warping passes no gradient to the flow, so this loss
is the student's only training signal.

Estimators without trainable parameters (``dis``, ``none``) cannot be distilled: the loss is zero.
The refinement variant of ``dis`` re-estimates the flow on the pseudo-clean mean of a first pass
instead; that is pipeline policy chosen by the config (:mod:`stbn.engine.flows`), not this loss.
"""

from __future__ import annotations

import copy
from typing import Any

import torch
import torch.nn as nn

from stbn.models.flow.base import FlowEstimator


def trainable_parameters(module: nn.Module) -> list[nn.Parameter]:
    """Parameters of ``module`` that require a gradient."""
    return [p for p in module.parameters() if p.requires_grad]


def _l1(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    return (a - b).abs().mean()


class FlowDistillation:
    """The flow-distillation loss and its optimiser settings.

    Parameters
    ----------
    student
        The estimator the denoiser uses (``net.flow``); it is trained in place.
    teacher
        Frozen estimator run on the pseudo-clean frames; default: a deep copy of ``student`` taken
        now (so build this object *before* the student is trained, or pass the pretrained estimator
        again, e.g. ``build_flow("pwcnet", weights)``, or restore it with :meth:`load_state_dict`).
    lam, reg
        Loss weight and parameter-norm weight (inside ``lam``).
    start_step
        Training step from which the loss is on; before it :meth:`loss` returns zero.
    """

    def __init__(
        self,
        student: FlowEstimator,
        teacher: FlowEstimator | None = None,
        lam: float = 5e-4,
        reg: float = 4e-4,
        start_step: int = 1000,
    ) -> None:
        if lam < 0 or reg < 0 or start_step < 0:
            raise ValueError(f"FlowDistillation: lam, reg and start_step must be >= 0, got {lam}, {reg}, {start_step}")
        self.student = student
        self.teacher = copy.deepcopy(student if teacher is None else teacher)
        self.teacher.requires_grad_(False).eval()
        self.lam = lam
        self.reg = reg
        self.start_step = start_step

    def active(self, step: int) -> bool:
        """Whether the loss is on at ``step``: never for a student without trainable parameters."""
        return step >= self.start_step and bool(trainable_parameters(self.student))

    def param_groups(self, lr: float = 1e-5) -> list[dict[str, Any]]:
        """Optimiser parameter groups for the student (empty when it has nothing to train)."""
        params = trainable_parameters(self.student)
        return [{"params": params, "lr": lr, "name": "flow"}] if params else []

    def loss(self, noisy_rgb: torch.Tensor, pseudo_clean_mean: torch.Tensor, step: int) -> torch.Tensor:
        """``L_flow`` for one batch: a scalar, zero (and without graph) before ``start_step``.

        ``noisy_rgb`` and ``pseudo_clean_mean`` are ``(N, T, 3, H, W)`` (for raw models, the
        pseudo-RGB of :meth:`stbn.models.network.STBN.flow_frames`); the mean is detached here.
        """
        if noisy_rgb.shape != pseudo_clean_mean.shape or noisy_rgb.dim() != 5 or noisy_rgb.shape[2] != 3:
            raise ValueError(
                f"FlowDistillation.loss expects two (N,T,3,H,W) tensors of one shape, "
                f"got {tuple(noisy_rgb.shape)} and {tuple(pseudo_clean_mean.shape)}"
            )
        if not self.active(step):
            return noisy_rgb.new_zeros(())
        with torch.no_grad():
            t_fwd, t_bwd = self.teacher(pseudo_clean_mean.detach())
        s_fwd, s_bwd = self.student(noisy_rgb)
        norm = torch.stack([p.norm() for p in trainable_parameters(self.student)]).sum()
        return self.lam * (_l1(t_bwd, s_bwd) + _l1(t_fwd, s_fwd) + self.reg * norm)

    def state_dict(self) -> dict[str, Any]:
        """The teacher's weights, for exact resume (the student is saved with the model)."""
        return {"teacher": self.teacher.state_dict()}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        """Restore the teacher saved by :meth:`state_dict`."""
        self.teacher.load_state_dict(state["teacher"])


def denoiser_parameters(net: nn.Module) -> list[nn.Parameter]:
    """Trainable parameters of a network outside its flow estimator ``net.flow`` if it has one (the main
    group)."""
    flow_ids = {id(p) for p in net.flow.parameters()} if hasattr(net, "flow") else set()
    return [p for p in trainable_parameters(net) if id(p) not in flow_ids]
