"""The flows a model propagates its states with: estimated pair by pair, and re-estimated on the
pseudo-clean mean of a first pass; one implementation for inference and training.

Flow refinement by re-estimation (``flow.distill.enabled`` with ``dis``, ``docs/flow.md``) is pipeline
policy, chosen by the config: a first pass with the noisy frames' flows gives outputs whose mean
(:meth:`STBN.pseudo_clean`) the estimator runs on again; the final pass uses those flows. Inference
(:func:`stbn.engine.denoise`) streams the first pass's outputs into :func:`reestimate`; training re-estimates
a batch's flows with :func:`reestimated_flows`.
"""

from __future__ import annotations

from collections.abc import Iterable

import torch

from stbn.engine.stores import Storage, TensorStore


def pair_flows(
    net: torch.nn.Module, frames: Iterable[torch.Tensor], storage: Storage
) -> tuple[TensorStore, TensorStore]:
    """Flows of each adjacent pair of ``frames`` (each ``(N, C, H, W)``, read once, in order) by ``net``'s
    estimator, in full precision, as each pair arrives: stores ``fwd``, ``bwd`` with the pair ``(t-1, t)``
    under ``t-1`` (:meth:`STBN.estimate_flows`' convention), each ``(N, 2, H, W)``; one frame is held."""
    fwd, bwd = storage.new(), storage.new()
    prev: torch.Tensor | None = None
    for t, cur in enumerate(frames):
        if prev is not None:
            f, b = net.estimate_flows(torch.stack((prev, cur), dim=1))
            fwd.put(t - 1, f[:, 0])
            bwd.put(t - 1, b[:, 0])
        prev = cur
    return fwd, bwd


def reestimate(
    net: torch.nn.Module, outputs: Iterable[torch.Tensor], storage: Storage
) -> tuple[TensorStore, TensorStore]:
    """:func:`pair_flows` on the pseudo-clean means of ``outputs``, the network outputs ``(N, out_channels,
    H, W)`` of a first pass for t = 0 .. T-1 (detached, clamped to [0, 1])."""
    means = (net.pseudo_clean(out.unsqueeze(1))[:, 0] for out in outputs)
    return pair_flows(net, means, storage)


def reestimated_flows(net: torch.nn.Module, first: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """The re-estimated flows of a clip from its first pass's output ``(N, T, out_channels, H, W)``:
    2 x ``(N, T-1, 2, H, W)``, no gradient (training)."""
    n, t_len, _, h, w = first.shape
    fwd, bwd = reestimate(net, first.unbind(1), Storage(first.device))
    if t_len < 2:
        empty = first.new_zeros(n, 0, 2, h, w)
        return empty, empty.clone()
    return tuple(torch.stack([s.get(i) for i in range(t_len - 1)], dim=1) for s in (fwd, bwd))  # type: ignore[return-value]
