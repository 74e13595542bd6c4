"""OpenCV's DIS optical flow (Kroeger et al. 2016) as a weight-free flow estimator.

DIS runs on 8-bit grey frames on the CPU; noisy frames are clipped to [0, 1], converted to luma
(Rec. 601 weights on RGB) and rounded. It has no trainable parameters, so flow refinement by
distillation does not apply; its refinement variant re-estimates the flow on pseudo-clean frames
(see :mod:`stbn.training.distill` and ``docs/flow.md``).

Preset and pre-smoothing were chosen by measurement (``benchmarks/flow_accuracy.py``, numbers in
``docs/flow.md``): mean end-point error in the interior (16 px margin) over six translations
(0.37/-0.61, 0.25/0.5, -0.8/0.15, 2.5/-1.3, 3.7/2.2, -4.4/1.6 px) with sigma = 30/255 Gaussian noise,
three noise seeds, chosen on the scikit-image chelsea and rocket stills and reported on astronaut and
coffee (the acceptance images):

=========  ====  =======  ======  =========  ======
preset     blur  chelsea  rocket  astronaut  coffee
=========  ====  =======  ======  =========  ======
ultrafast  0     0.436    2.372   0.508      0.702
fast       0     0.281    1.721   0.328      0.456
fast       0.75  0.262    1.659   0.321      0.416
fast       1.5   0.258    1.805   0.326      0.403
medium     0     0.424    1.724   0.497      0.559
medium     0.75  0.433    2.026   0.555      0.598
=========  ====  =======  ======  =========  ======

Default: ``fast`` with a Gaussian pre-blur of 0.75 px (best mean on the selection images). ``fast``
estimates at coarser scales than ``medium``, which averages the noise away; pre-blurring helps
``fast``/``ultrafast`` a little and hurts ``medium``. Rocket's large flat sky is ill-posed for any
preset (aperture problem).
"""

from __future__ import annotations

from typing import Literal

import cv2
import numpy as np
import torch

from stbn.errors import StbnError
from stbn.models.flow.base import FlowEstimator

DisPreset = Literal["ultrafast", "fast", "medium"]
PRESETS: dict[str, int] = {
    "ultrafast": cv2.DISOPTICAL_FLOW_PRESET_ULTRAFAST,
    "fast": cv2.DISOPTICAL_FLOW_PRESET_FAST,
    "medium": cv2.DISOPTICAL_FLOW_PRESET_MEDIUM,
}
LUMA = np.array([0.299, 0.587, 0.114], dtype=np.float32)


def to_grey_u8(frame: np.ndarray, blur_sigma: float = 0.0) -> np.ndarray:
    """``(3, H, W)`` float RGB in [0, 1] (may exceed it) -> ``(H, W)`` uint8 luma, optionally blurred."""
    grey = np.tensordot(LUMA, np.clip(frame, 0.0, 1.0), axes=1)
    if blur_sigma > 0:
        grey = cv2.GaussianBlur(grey, (0, 0), blur_sigma)
    return np.round(grey * 255.0).astype(np.uint8)


class DISFlow(FlowEstimator):
    """OpenCV DIS flow between adjacent frames; no weights, no gradient.

    Parameters
    ----------
    preset
        OpenCV preset: ``"ultrafast"``, ``"fast"`` (default, chosen by measurement) or ``"medium"``.
    blur_sigma
        Std (px) of a Gaussian applied to the grey frames before DIS (default 0.75); 0 disables it.
    """

    def __init__(self, preset: DisPreset = "fast", blur_sigma: float = 0.75) -> None:
        super().__init__()
        if preset not in PRESETS:
            raise StbnError(f"flow.preset: unknown DIS preset {preset!r} (one of {', '.join(PRESETS)})")
        if blur_sigma < 0:
            raise StbnError(f"flow.blur_sigma: must be >= 0, got {blur_sigma}")
        self.preset = preset
        self.blur_sigma = float(blur_sigma)

    def pair(self, first: np.ndarray, second: np.ndarray) -> np.ndarray:
        """Flow ``(H, W, 2)`` (x, y) on ``first``'s grid pointing into ``second``, grey uint8 frames.

        ``first(q) ~ second(q + flow(q))``: the convention of :func:`stbn.ops.warp.flow_warp`.
        """
        dis = cv2.DISOpticalFlow_create(PRESETS[self.preset])
        return dis.calc(first, second, None)

    def forward(self, frames: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """``(N, T, 3, H, W)`` RGB -> ``(fwd, bwd)``, each ``(N, T-1, 2, H, W)`` on ``frames``' device."""
        if frames.dim() != 5 or frames.shape[2] != 3:
            raise ValueError(f"DISFlow expects frames (N,T,3,H,W), got {tuple(frames.shape)}")
        n, t, _, h, w = frames.shape
        data = frames.detach().to("cpu", torch.float32).numpy()
        fwd = np.zeros((n, max(t - 1, 0), 2, h, w), dtype=np.float32)
        bwd = np.zeros_like(fwd)
        for i in range(n):
            grey = [to_grey_u8(f, self.blur_sigma) for f in data[i]]
            for k in range(t - 1):
                fwd[i, k] = self.pair(grey[k + 1], grey[k]).transpose(2, 0, 1)
                bwd[i, k] = self.pair(grey[k], grey[k + 1]).transpose(2, 0, 1)
        return (
            torch.from_numpy(fwd).to(device=frames.device, dtype=frames.dtype),
            torch.from_numpy(bwd).to(device=frames.device, dtype=frames.dtype),
        )
