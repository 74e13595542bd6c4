"""The Spatiotemporal Blind-Spot Network (STBN).

Data flow (STBN_SPEC.md section 1): per direction, a recurrent blind-spot step consumes the current
noisy frame, the previous state warped onto the current frame, and the noise-level map; the BSA fusion
mixes the new state with the aligned one. SRFE fuses the two directions' states per frame and a
dilated head produces the output. One routine, :meth:`STBN.propagate`, serves both directions, training
and inference.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Literal

import torch
import torch.nn as nn

from stbn.models.blindspot import DBSNl, DilatedStack
from stbn.models.flow import FlowEstimator, ZeroFlow
from stbn.models.srfe import SRFE
from stbn.ops import WarpMode, flow_warp

Direction = Literal["forward", "backward"]
Head = Literal["gaussian", "direct"]


def gaussian_channels(c: int) -> int:
    """Output channels of the Gaussian head: the mean (``c``) plus ``c(c+1)/2`` factor entries."""
    return c + c * (c + 1) // 2


class STBN(nn.Module):
    """Spatiotemporal Blind-Spot Network.

    Parameters
    ----------
    in_channels
        3 for sRGB, 4 for packed RGGB raw.
    num_channels
        State width (paper: 64).
    num_resblocks
        Dilated residual blocks in each step network and the BSA fusion; the output head has
        ``num_resblocks // 2`` (paper: 5).
    noise_map
        Whether each step also takes the noise-level map (default: True for 3 channels, False for 4).
    head
        ``"gaussian"``: mean plus the anti-triangular covariance factor (``C + C(C+1)/2`` channels,
        sRGB default); ``"direct"``: a ``C``-channel estimate (raw default).
    bsa_fusion, srfe
        Ablation switches: without the BSA fusion the step output is the new state; without SRFE the
        two directions are concatenated and fed to the head.
    srfe_features, srfe_groups, srfe_blocks
        SRFE width (default ``4 * num_channels``), residual groups (2) and blocks per group (8).
    warp
        ``"nearest"`` (paper) or ``"bilinear"`` feature alignment.
    neighbour_frames
        Also feed the noisy frame the aligned state came from (t-1 forward, t+1 backward), warped with the
        same flow, into the BSA fusion (not in the paper). In the published network a state is blind to its
        own frame on the output's lattice ``q + 2Z^2``, so neighbouring frames reach ``q``'s lattice only
        through weak paths (docs/fitting.md) and a static scene is hard to average in time; the fusion's 1x1
        and dilation-2 convolutions carry ``q``'s lattice, and frame t never enters this way, so blindness
        holds.
    flow
        Estimator used when ``forward`` gets no ``flows``; default :class:`ZeroFlow`. It runs without
        gradient: nearest warping gives the flow none, and distillation trains it separately.
    """

    def __init__(
        self,
        in_channels: int = 3,
        num_channels: int = 64,
        num_resblocks: int = 5,
        noise_map: bool | None = None,
        head: Head | None = None,
        bsa_fusion: bool = True,
        srfe: bool = True,
        srfe_features: int | None = None,
        srfe_groups: int = 2,
        srfe_blocks: int = 8,
        warp: WarpMode = "nearest",
        flow: FlowEstimator | None = None,
        neighbour_frames: bool = False,
    ) -> None:
        super().__init__()
        if in_channels not in (3, 4):
            raise ValueError(f"STBN supports 3 (sRGB) or 4 (packed raw) input channels, got {in_channels}")
        if warp not in ("nearest", "bilinear"):
            raise ValueError(f"unknown warp mode {warp!r} (nearest | bilinear)")
        if neighbour_frames and not bsa_fusion:
            raise ValueError("neighbour_frames feeds the BSA fusion: it needs bsa_fusion=True")
        self.in_channels = in_channels
        self.num_channels = num_channels
        self.uses_noise_map = (in_channels == 3) if noise_map is None else noise_map
        self.head_kind: Head = ("gaussian" if in_channels == 3 else "direct") if head is None else head
        self.warp_mode: WarpMode = warp
        self.neighbour_frames = neighbour_frames
        c = num_channels
        out_channels = gaussian_channels(in_channels) if self.head_kind == "gaussian" else in_channels
        step_in = in_channels + c + (in_channels if self.uses_noise_map else 0)
        self.forward_cell = DBSNl(step_in, c, base_channels=c, num_blocks=num_resblocks)
        self.backward_cell = DBSNl(step_in, c, base_channels=c, num_blocks=num_resblocks)
        fusion_in = 2 * c + (in_channels if neighbour_frames else 0)
        self.fusion = DilatedStack(fusion_in, 2 * c, c, num_resblocks) if bsa_fusion else None
        self.srfe = (
            SRFE(c, features=srfe_features, num_groups=srfe_groups, num_blocks=srfe_blocks) if srfe else None
        )
        self.out_head = DilatedStack(c if srfe else 2 * c, c, out_channels, num_resblocks // 2)
        self.flow = flow if flow is not None else ZeroFlow()
        self.out_channels = out_channels

    # ------------------------------------------------------------------ parts
    def num_parameters(self, include_flow: bool = False) -> int:
        """Number of parameters, without the flow estimator unless ``include_flow``."""
        return sum(
            p.numel() for n, p in self.named_parameters() if include_flow or not n.startswith("flow.")
        )

    def flow_frames(self, noisy: torch.Tensor) -> torch.Tensor:
        """RGB frames the flow estimator sees: ``(N, T, C, H, W) -> (N, T, 3, H, W)``.

        Raw RGGB is turned into the pseudo-RGB ``[R, (G1 + G2) / 2, B]``.
        """
        if self.in_channels == 3:
            return noisy
        return torch.stack((noisy[:, :, 0], 0.5 * (noisy[:, :, 1] + noisy[:, :, 2]), noisy[:, :, 3]), dim=2)

    def estimate_flows(self, frames: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Flows from the model's estimator on ``(N, T, C, H, W)`` frames (noisy, or :meth:`pseudo_clean`),
        without gradient: 2 x ``(N, T-1, 2, H, W)``."""
        with torch.no_grad():
            return self.flow(self.flow_frames(frames))

    def pseudo_clean(self, out: torch.Tensor) -> torch.Tensor:
        """The mean of an output ``(N, T, out_channels, H, W)``, detached and clamped to [0, 1]:
        ``(N, T, C, H, W)``, the frames flow re-estimation runs the estimator on (:mod:`stbn.engine.flows`)."""
        return out[:, :, : self.in_channels].detach().clamp(0.0, 1.0)

    def step(
        self,
        direction: Direction,
        frame: torch.Tensor,
        noise_map: torch.Tensor | None,
        state: torch.Tensor | None,
        flow: torch.Tensor | None,
        previous: torch.Tensor | None = None,
    ) -> torch.Tensor:
        """One recurrent step on frame t.

        ``frame`` and ``noise_map`` are ``(N, C, H, W)``; ``state`` is the previous step's state
        ``(N, num_channels, H, W)`` (None at the first step, which then starts from zeros and skips the
        BSA fusion); ``flow`` ``(N, 2, H, W)`` aligns that state to frame t; ``previous`` ``(N, C, H, W)``
        is the noisy frame that state came from (used with ``neighbour_frames``). Returns the new state.
        """
        n, _, h, w = frame.shape
        if state is None:
            aligned = frame.new_zeros(n, self.num_channels, h, w)
        else:
            aligned = flow_warp(state, flow, self.warp_mode)
        parts = [frame, aligned] + ([noise_map] if self.uses_noise_map else [])
        cell = self.forward_cell if direction == "forward" else self.backward_cell
        new = cell(torch.cat(parts, dim=1))
        if state is not None and self.fusion is not None:
            fused = [new, aligned]
            if self.neighbour_frames:
                if previous is None:
                    raise ValueError("neighbour_frames: step needs the previous noisy frame with a state")
                fused.append(flow_warp(previous, flow, self.warp_mode))
            new = self.fusion(torch.cat(fused, dim=1))
        return new

    def propagate(
        self,
        noisy: torch.Tensor,
        noise_map: torch.Tensor | None,
        flows: torch.Tensor,
        direction: Direction,
        times: range | None = None,
        state: torch.Tensor | None = None,
    ) -> Iterator[tuple[int, torch.Tensor]]:
        """Run one direction over the clip, yielding ``(t, state_t)`` in processing order.

        ``noisy``/``noise_map`` are ``(N, T, C, H, W)``; ``flows`` is that direction's
        ``(N, T-1, 2, H, W)`` (``fwd`` or ``bwd``). ``times`` (default: the whole clip in the
        direction's order) and an incoming ``state`` let a caller run the recurrence in segments.
        """
        t_len = noisy.shape[1]
        if times is None:
            times = range(t_len) if direction == "forward" else range(t_len - 1, -1, -1)
        for t in times:
            flow = previous = None
            if state is not None:
                flow = flows[:, t - 1] if direction == "forward" else flows[:, t]
                previous = noisy[:, t - 1] if direction == "forward" else noisy[:, t + 1]
            m = noise_map[:, t] if noise_map is not None else None
            state = self.step(direction, noisy[:, t], m, state, flow, previous)
            yield t, state

    def decode(self, fwd_state: torch.Tensor, bwd_state: torch.Tensor) -> torch.Tensor:
        """Fuse both directions' states ``(B, num_channels, H, W)`` into the output ``(B, out, H, W)``.

        Every op is per sample, so frames may be stacked along B.
        """
        if self.srfe is not None:
            return self.out_head(self.srfe(fwd_state, bwd_state))
        return self.out_head(torch.cat((fwd_state, bwd_state), dim=1))

    # ------------------------------------------------------------------ forward
    def expand_noise_map(self, noise_map: torch.Tensor | float | None, noisy: torch.Tensor) -> torch.Tensor | None:
        """The noise map broadcast to ``noisy``'s ``(N, T, C, H, W)`` (None if the model takes none).

        Accepts a float sigma (on the [0, 1] scale) or any tensor broadcastable to that shape,
        e.g. ``(N, 1, 1, 1, 1)`` for one sigma per clip.
        """
        if not self.uses_noise_map:
            return None
        if noise_map is None:
            raise ValueError("this STBN takes a noise-level map: pass noise_map=sigma (on the [0,1] scale)")
        m = torch.as_tensor(noise_map, dtype=noisy.dtype, device=noisy.device)
        return m.expand_as(noisy) if m.dim() else m.expand(noisy.shape)

    def forward(
        self,
        noisy: torch.Tensor,
        noise_map: torch.Tensor | float | None = None,
        flows: tuple[torch.Tensor, torch.Tensor] | None = None,
    ) -> torch.Tensor:
        """Denoise a clip.

        Parameters
        ----------
        noisy
            ``(N, T, C, H, W)``.
        noise_map
            Noise std on the [0, 1] scale, float or tensor broadcastable to ``noisy``; required by
            models with a noise-map input, ignored by the others.
        flows
            Optional precomputed ``(fwd, bwd)``, each ``(N, T-1, 2, H, W)``; ``fwd[:, t-1]`` aligns
            frame t-1 to t and ``bwd[:, t]`` aligns t+1 to t. Default: the model's estimator.

        Returns
        -------
        torch.Tensor
            ``(N, T, out_channels, H, W)``: for the Gaussian head the mean (C) then the factor entries.
        """
        if noisy.dim() != 5 or noisy.shape[2] != self.in_channels:
            raise ValueError(f"STBN expects noisy (N,T,{self.in_channels},H,W), got {tuple(noisy.shape)}")
        n, t_len, _, h, w = noisy.shape
        m = self.expand_noise_map(noise_map, noisy)
        fwd, bwd = self.estimate_flows(noisy) if flows is None else flows
        expected = (n, t_len - 1, 2, h, w)
        if tuple(fwd.shape) != expected or tuple(bwd.shape) != expected:
            raise ValueError(f"flows must be (N,T-1,2,H,W) = {expected}, got {tuple(fwd.shape)} and {tuple(bwd.shape)}")
        states_f = [s for _, s in self.propagate(noisy, m, fwd, "forward")]
        states_b = [s for _, s in self.propagate(noisy, m, bwd, "backward")][::-1]
        out = self.decode(torch.cat(states_f, dim=0), torch.cat(states_b, dim=0))  # (T*N, out, H, W), t-major
        return out.reshape(t_len, n, -1, h, w).transpose(0, 1)
