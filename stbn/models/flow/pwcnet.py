"""PWC-Net (Sun et al. 2018) in the architecture of the sniklaus PyTorch port, the flow network of STBN.

Pure PyTorch (the cost volume is :func:`stbn.ops.correlation.correlation`), device-agnostic, and
weight loading only from a local file: nothing is downloaded (STBN_SPEC.md sections 5.1 and 5.2).

- :class:`PWCNet` is the network: 6-level pyramid (16/32/64/96/128/196 channels), densely connected
  decoders at levels 6..2 on an 81-channel cost volume, transposed-conv upsampling, a dilated context
  refiner; it returns the flow at 1/4 resolution divided by 20. 9,374,274 parameters.
- :class:`PWCFlow` is the :class:`~stbn.models.flow.base.FlowEstimator`: it resizes frames to multiples
  of 64, runs the network on all adjacent pairs at once and rescales the flow back to pixels.
- :func:`load_pwc_state_dict` reads ``network-default.pytorch`` (the sniklaus key format) or our own
  format and returns a state dict for :class:`PWCNet`.

About 320 lines: the network (pyramid extractor, five decoders, refiner) and the loader of its one
weights format belong together; splitting them would put the key names in two places.
"""

from __future__ import annotations

import math
import re
from collections.abc import Iterator, Mapping
from pathlib import Path

import torch
import torch.nn as nn
import torch.nn.functional as F

from stbn.errors import StbnError
from stbn.models.flow.base import FlowEstimator
from stbn.ops.correlation import correlation
from stbn.ops.warp import flow_warp

PYRAMID_CHANNELS = (16, 32, 64, 96, 128, 196)
DENSE_CHANNELS = (128, 128, 96, 64, 32)
REFINER_CHANNELS = (128, 128, 128, 96, 64, 32, 2)
REFINER_DILATIONS = (1, 2, 4, 8, 16, 1, 1)
COST_CHANNELS = 81  # (2 * 4 + 1) ** 2
LEVELS = (6, 5, 4, 3, 2)  # coarse to fine; level l has stride 2**l
# Every level predicts the flow in full-resolution pixels divided by 20, so warping at level l scales
# it by 20 / 2**l: 0.625, 1.25, 2.5, 5.0 at levels 5..2.
FLOW_SCALE = 20.0
SIZE_MULTIPLE = 64


def _leaky(x: torch.Tensor) -> torch.Tensor:
    return F.leaky_relu(x, 0.1)


def _decoder_in_channels(level: int) -> int:
    """Input channels of a decoder: cost volume, then (below level 6) features, flow and upsampled feature."""
    if level == 6:
        return COST_CHANNELS
    return COST_CHANNELS + PYRAMID_CHANNELS[level - 1] + 2 + 2


class Decoder(nn.Module):
    """One pyramid level: cost volume, five densely connected convs, a flow prediction.

    Each dense conv's output is *prepended* to its input (``cat([conv(x), x])``), as in the port.
    """

    def __init__(self, level: int) -> None:
        super().__init__()
        self.level = level
        c = _decoder_in_channels(level)
        if level < 6:
            above = _decoder_in_channels(level + 1) + sum(DENSE_CHANNELS)
            self.upflow = nn.ConvTranspose2d(2, 2, kernel_size=4, stride=2, padding=1)
            self.upfeat = nn.ConvTranspose2d(above, 2, kernel_size=4, stride=2, padding=1)
        self.dense = nn.ModuleList()
        for out in DENSE_CHANNELS:
            self.dense.append(nn.Conv2d(c, out, kernel_size=3, padding=1))
            c += out
        self.predict = nn.Conv2d(c, 2, kernel_size=3, padding=1)
        self.out_channels = c

    def forward(
        self, f1: torch.Tensor, f2: torch.Tensor, previous: tuple[torch.Tensor, torch.Tensor] | None
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """``f1``, ``f2``: this level's features ``(B, C_l, h, w)``; ``previous``: the (flow, features)
        of the level above, or None at level 6. Returns this level's (flow ``(B, 2, h, w)``, features).
        """
        if previous is None:
            feat = _leaky(correlation(f1, f2))
        else:
            flow = self.upflow(previous[0])
            up = self.upfeat(previous[1])
            warped = backwarp(f2, flow * (FLOW_SCALE / 2**self.level))
            feat = torch.cat((_leaky(correlation(f1, warped)), f1, flow, up), dim=1)
        for conv in self.dense:
            feat = torch.cat((_leaky(conv(feat)), feat), dim=1)
        return self.predict(feat), feat


def backwarp(x: torch.Tensor, flow: torch.Tensor) -> torch.Tensor:
    """The port's bilinear backward warp inside the decoders; zeroes every pixel touching the outside.

    ``x`` is ``(B, C, h, w)``, ``flow`` ``(B, 2, h, w)`` in pixels. The port (its PyTorch >= 1.3
    version, used by FloRNN and STBN) places the grid at pixel centres for ``align_corners=False`` but
    normalises the flow by ``(w - 1) / 2``, so it samples ``x(q + flow * (w/(w-1), h/(h-1)))``; the
    pretrained weights are used with that scaling, so we keep it. A ones channel is warped along and
    pixels where it drops to 0.999 or below are set to 0.
    """
    h, w = x.shape[-2:]
    stretch = flow.new_tensor([w / (w - 1), h / (h - 1)]).view(1, 2, 1, 1)
    ones = x.new_ones(x.shape[0], 1, h, w)
    out = flow_warp(torch.cat((x, ones), dim=1), flow * stretch, mode="bilinear")
    mask = (out[:, -1:] > 0.999).to(x.dtype)
    return out[:, :-1] * mask


class PWCNet(nn.Module):
    """The PWC-Net network (sniklaus port architecture), randomly initialised.

    ``forward(first, second)`` takes RGB in [0, 1], ``(B, 3, H, W)`` with H and W multiples of 64, and
    returns the flow of ``first`` into ``second`` as ``(B, 2, H/4, W/4)``: sampled every 4 px, in
    full-resolution pixels divided by 20.
    """

    def __init__(self) -> None:
        super().__init__()
        self.extractor = nn.ModuleList()
        c_in = 3
        for c in PYRAMID_CHANNELS:
            self.extractor.append(
                nn.ModuleList(
                    [
                        nn.Conv2d(c_in, c, kernel_size=3, stride=2, padding=1),
                        nn.Conv2d(c, c, kernel_size=3, padding=1),
                        nn.Conv2d(c, c, kernel_size=3, padding=1),
                    ]
                )
            )
            c_in = c
        self.decoders = nn.ModuleDict({f"level{level}": Decoder(level) for level in LEVELS})
        self.refiner = nn.ModuleList()
        c_in = self.decoders["level2"].out_channels
        for c, dil in zip(REFINER_CHANNELS, REFINER_DILATIONS):
            self.refiner.append(nn.Conv2d(c_in, c, kernel_size=3, padding=dil, dilation=dil))
            c_in = c

    def features(self, x: torch.Tensor) -> list[torch.Tensor]:
        """Feature pyramid of ``(B, 3, H, W)`` images: levels 1..6, level l at stride ``2**l``."""
        pyramid = []
        for level in self.extractor:
            for conv in level:
                x = _leaky(conv(x))
            pyramid.append(x)
        return pyramid

    def decode(self, first: list[torch.Tensor], second: list[torch.Tensor]) -> torch.Tensor:
        """Flow from two feature pyramids (see :meth:`features`): ``(B, 2, H/4, W/4)``, divided by 20."""
        estimate = None
        for level in LEVELS:
            estimate = self.decoders[f"level{level}"](first[level - 1], second[level - 1], estimate)
        flow, feat = estimate
        for i, conv in enumerate(self.refiner):
            feat = conv(feat)
            if i < len(self.refiner) - 1:
                feat = _leaky(feat)
        return flow + feat

    def forward(self, first: torch.Tensor, second: torch.Tensor) -> torch.Tensor:
        """Flow of ``first`` into ``second``; see the class docstring for layouts."""
        if first.shape != second.shape or first.dim() != 4 or first.shape[1] != 3:
            raise ValueError(f"PWCNet expects two (B,3,H,W) images, got {tuple(first.shape)} and {tuple(second.shape)}")
        if first.shape[-2] % SIZE_MULTIPLE or first.shape[-1] % SIZE_MULTIPLE:
            raise ValueError(f"PWCNet needs H and W multiples of {SIZE_MULTIPLE}, got {tuple(first.shape[-2:])}")
        return self.decode(self.features(first), self.features(second))


# ---------------------------------------------------------------- the sniklaus checkpoint format
# ``network-default.pytorch`` names modules ``module<Name>``; newer port code renames every such component
# ``net<Name>`` while loading (``netExtractor.netOne.0.weight``), and checkpoints holding a PWC-Net, e.g.
# STBN's ``pwcnet.*`` entries, are saved that way. Decoders are attributes named after their level and
# every conv sits in a Sequential interleaved with LeakyReLUs, so conv i of a block is at index 2*i.
# Our name  <->  port name:
#   extractor.{l}.{i}.*        <->  moduleExtractor.module{One..Six}[l].{2i}.*
#   decoders.level{L}.upflow.* <->  module{Two..Six}[L].moduleUpflow.*   (upfeat: moduleUpfeat)
#   decoders.level{L}.dense.{i}.*  <->  module{L}.module{One..Fiv}[i].0.*
#   decoders.level{L}.predict.*    <->  module{L}.moduleSix.0.*
#   refiner.{i}.*              <->  moduleRefiner.moduleMain.{2i}.*
_ORDINALS = ("One", "Two", "Thr", "Fou", "Fiv", "Six")


def _port_prefixes() -> Iterator[tuple[str, str]]:
    """``(our module prefix, port module prefix)`` for every conv of :class:`PWCNet`."""
    for lv, name in enumerate(_ORDINALS):
        for i in range(3):
            yield f"extractor.{lv}.{i}", f"moduleExtractor.module{name}.{2 * i}"
    for level in LEVELS:
        ours, port = f"decoders.level{level}", f"module{_ORDINALS[level - 1]}"
        if level < 6:
            yield f"{ours}.upflow", f"{port}.moduleUpflow"
            yield f"{ours}.upfeat", f"{port}.moduleUpfeat"
        for i in range(len(DENSE_CHANNELS)):
            yield f"{ours}.dense.{i}", f"{port}.module{_ORDINALS[i]}.0"
        yield f"{ours}.predict", f"{port}.moduleSix.0"
    for i in range(len(REFINER_CHANNELS)):
        yield f"refiner.{i}", f"moduleRefiner.moduleMain.{2 * i}"


def _key_map() -> dict[str, str]:
    """Port key -> our key, for every weight and bias."""
    return {f"{port}.{p}": f"{ours}.{p}" for ours, port in _port_prefixes() for p in ("weight", "bias")}


def to_port_state_dict(state: Mapping[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """Our :class:`PWCNet` state dict renamed to the sniklaus file format (``module<Name>`` keys)."""
    inverse = {ours: port for port, ours in _key_map().items()}
    return {inverse[k]: v for k, v in state.items()}


_NET_COMPONENT = re.compile(r"(^|\.)net(?=[A-Z])")  # a ``net<Name>`` component of a key


def from_port_state_dict(state: Mapping[str, torch.Tensor], source: str = "state dict") -> dict[str, torch.Tensor]:
    """A state dict in the sniklaus format (``module<Name>`` or ``net<Name>`` components) or ours, as ours.

    A ``module.`` prefix (DataParallel) is stripped. Raises :class:`StbnError` naming ``source`` when
    the keys do not describe exactly this PWC-Net.
    """
    if all(k.startswith("module.") for k in state):
        state = {k[len("module.") :]: v for k, v in state.items()}
    mapping = _key_map()
    ours = set(mapping.values())
    out = {}
    for key, value in state.items():
        port_key = _NET_COMPONENT.sub(r"\1module", key)
        out[mapping.get(port_key, key)] = value
    missing = sorted(ours - out.keys())
    unexpected = sorted(out.keys() - ours)
    if missing or unexpected:
        raise StbnError(
            f"{source}: not a PWC-Net state dict of the sniklaus format "
            f"({len(missing)} missing keys, e.g. {missing[:2]}; {len(unexpected)} unexpected, e.g. {unexpected[:2]})"
        )
    return out


def load_pwc_state_dict(path: str | Path) -> dict[str, torch.Tensor]:
    """Read PWC-Net weights from a local file (``network-default.pytorch`` or our own format).

    Raises :class:`StbnError` when the file is missing, unreadable or not a PWC-Net state dict.
    """
    path = Path(path)
    if not path.is_file():
        raise StbnError(
            f"flow weights {path}: file not found "
            "(download network-default.pytorch of sniklaus/pytorch-pwc and give its local path)"
        )
    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:  # a corrupt or foreign file can fail anywhere inside the unpickler
        detail = str(exc).splitlines()[0] if str(exc) else ""
        raise StbnError(f"flow weights {path}: not a PyTorch state dict ({type(exc).__name__}: {detail})") from exc
    if not isinstance(state, Mapping) or not all(isinstance(v, torch.Tensor) for v in state.values()):
        raise StbnError(f"flow weights {path}: expected a dict of tensors (a state dict), got {type(state).__name__}")
    return from_port_state_dict(state, source=f"flow weights {path}")


class PWCFlow(FlowEstimator):
    """PWC-Net flow estimator for clips, with the resize-to-multiple-of-64 protocol of STBN_SPEC.md 5.2.

    Frames are resized bilinearly (``align_corners=False``, not padded) to the next multiples of 64,
    every frame's pyramid is computed once, both directions of every adjacent pair are decoded in one
    batch, and the flow is upsampled back, multiplied by 20 and rescaled per axis.

    Parameters
    ----------
    weights
        Local path of a PWC-Net state dict (sniklaus ``network-default.pytorch`` or ours); None keeps
        the random initialisation (tests, or training the flow from scratch).
    frames_per_batch
        Frames processed together (consecutive chunks overlap by one frame); bounds the memory of
        long clips at full resolution without changing the result.
    """

    def __init__(self, weights: str | Path | None = None, frames_per_batch: int = 8) -> None:
        super().__init__()
        if frames_per_batch < 2:
            raise StbnError(f"flow.frames_per_batch: must be >= 2 (a frame pair), got {frames_per_batch}")
        self.frames_per_batch = frames_per_batch
        self.net = PWCNet()
        if weights is not None:
            shapes = {k: v.shape for k, v in self.net.state_dict().items()}
            state = load_pwc_state_dict(weights)
            wrong = [k for k, v in state.items() if v.shape != shapes[k]]
            if wrong:
                key = wrong[0]
                raise StbnError(
                    f"flow weights {weights}: wrong tensor shape for {key}: "
                    f"{tuple(state[key].shape)}, expected {tuple(shapes[key])}"
                )
            self.net.load_state_dict(state)

    def _estimate(self, images: torch.Tensor, first: torch.Tensor, second: torch.Tensor) -> torch.Tensor:
        """Flows of ``images[first[i]]`` into ``images[second[i]]``; images ``(B, 3, H, W)``."""
        h, w = images.shape[-2:]
        nh, nw = (SIZE_MULTIPLE * math.ceil(s / SIZE_MULTIPLE) for s in (h, w))
        if (nh, nw) != (h, w):
            images = F.interpolate(images, size=(nh, nw), mode="bilinear", align_corners=False)
        pyramid = self.net.features(images)
        flow = self.net.decode([p[first] for p in pyramid], [p[second] for p in pyramid])
        flow = F.interpolate(flow, size=(h, w), mode="bilinear", align_corners=False)
        scale = flow.new_tensor([FLOW_SCALE * w / nw, FLOW_SCALE * h / nh]).view(1, 2, 1, 1)
        return flow * scale

    def forward(self, frames: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """``(N, T, 3, H, W)`` RGB in [0, 1] (noisy frames are not clipped) -> ``(fwd, bwd)``,
        each ``(N, T-1, 2, H, W)``; ``fwd[:, t-1] = PWC(x_t, x_{t-1})``, ``bwd[:, t] = PWC(x_t, x_{t+1})``.
        """
        if frames.dim() != 5 or frames.shape[2] != 3:
            raise ValueError(f"PWCFlow expects frames (N,T,3,H,W), got {tuple(frames.shape)}")
        n, t, _, h, w = frames.shape
        fwd, bwd = [frames.new_zeros(n, 0, 2, h, w)], [frames.new_zeros(n, 0, 2, h, w)]
        for start in range(0, t - 1, self.frames_per_batch - 1):
            part = frames[:, start : start + self.frames_per_batch]
            m = part.shape[1]
            idx = torch.arange(n * m, device=frames.device).view(n, m)
            later, earlier = idx[:, 1:].reshape(-1), idx[:, :-1].reshape(-1)
            images = part.reshape(n * m, 3, h, w)
            flows = self._estimate(images, torch.cat((later, earlier)), torch.cat((earlier, later)))
            f, b = flows.view(2, n, m - 1, 2, h, w).unbind(0)
            fwd.append(f)
            bwd.append(b)
        return torch.cat(fwd, dim=1), torch.cat(bwd, dim=1)
