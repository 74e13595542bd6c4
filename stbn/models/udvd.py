"""UDVD (Sheth et al., ICCV 2021): the five-frame blind window network, the second method beside STBN.

Layer by layer from UDVD_SPEC.md section 2. Every 3x3 convolution and pool of the U-Nets is vertically
causal (:mod:`stbn.ops.causal`): a feature at row ``r`` sees input rows ``<= r`` only. The frame is
padded to a square and turned by 0, 90, 180 and 270 degrees; the four copies run through the same
networks side by side in the batch, a final one-row shift makes them strictly causal, and turned back
they see the half-planes above, right of, below and left of each pixel. A 1x1 head mixes them. So the
output at ``(t, y, x)`` never sees pixel ``(y, x)`` of any frame of its window, and sees the rest.

Two U-Nets: ``triplet_net`` (D1) encodes each triplet of consecutive frames of the window (frames
0-2, 1-3, 2-4), ``window_net`` (D2) fuses the three encodings. A triplet is shared by three adjacent
windows, so a clip is encoded once per triplet (:meth:`UDVD.stream`), not three times per frame.

Edges: frame t's window is frames ``clamp(t + k, 0, T - 1)``, ``k = -2..2`` (the first and last frames
repeated, as in the published inference); blindness in every window frame makes the repeats safe.

Output: the Gaussian head of STBN, ``C`` mean channels then the ``C(C+1)/2`` entries of the
anti-triangular factor (:mod:`stbn.models.losses`), or a direct ``C``-channel estimate (``head="direct"``).
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator

import torch
import torch.nn as nn
import torch.nn.functional as F

from stbn.models.network import Head, gaussian_channels
from stbn.ops.causal import SquarePad, pad_to_square, rotate, shift_down, square_offset

WINDOW = 5
"""Frames in a window, the centre frame being denoised in the middle."""
RADIUS = WINDOW // 2
TRIPLET = 3
"""Frames per encoded triplet."""
TRIPLETS = WINDOW - TRIPLET + 1
"""Triplets per window (frames 0-2, 1-3, 2-4)."""
SLOPE = 0.1
"""Negative slope of every LeakyReLU."""
MIN_SIDE = 4
"""Smallest square the U-Nets' two 2x2 poolings can take."""


class BlindConv(nn.Module):
    """BConv: vertically causal 3x3 convolution (no bias), then LeakyReLU(0.1).

    ``(N, C_in, H, W) -> (N, C_out, H, W)``; output ``(r, c)`` sees input rows ``r-2 .. r`` and columns
    ``c-1 .. c+1``. Columns are replicate-padded, two zero rows are added on top and the convolution is
    valid. (The published code pads one zero row on top, replicates all four sides and drops the last
    output row: the same result with one row of work more.)
    """

    def __init__(self, in_channels: int, out_channels: int) -> None:
        super().__init__()
        self.conv = nn.Conv2d(in_channels, out_channels, 3, bias=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """``(N, C_in, H, W) -> (N, C_out, H, W)``."""
        x = F.pad(F.pad(x, (1, 1, 0, 0), mode="replicate"), (0, 0, 2, 0))
        return F.leaky_relu(self.conv(x), SLOPE)


def blind_pool(x: torch.Tensor) -> torch.Tensor:
    """BPool: shift one row down, then 2x2 max-pool with stride 2 (floor for odd sizes).

    ``(N, C, H, W) -> (N, C, H // 2, W // 2)``; pooled row ``i`` sees rows ``2i - 1`` and ``2i``.
    """
    return F.max_pool2d(shift_down(x), 2)


def up_concat(x: torch.Tensor, skip: torch.Tensor) -> torch.Tensor:
    """Nearest x2 upsampling of ``x`` ``(N, C1, h, w)``, zero-padded at the bottom/right to ``skip``'s
    size ``(N, C2, H, W)`` (odd sizes), then ``[upsampled, skip]`` along channels: ``(N, C1 + C2, H, W)``."""
    x = F.interpolate(x, scale_factor=2, mode="nearest")
    return torch.cat((F.pad(x, (0, skip.shape[-1] - x.shape[-1], 0, skip.shape[-2] - x.shape[-2])), skip), dim=1)


def _convs(*widths: int) -> nn.Sequential:
    """Consecutive :class:`BlindConv` layers through ``widths``."""
    return nn.Sequential(*[BlindConv(a, b) for a, b in zip(widths, widths[1:])])


class BlindUNet(nn.Module):
    """The vertically causal U-Net ``U(n -> o)`` (UDVD_SPEC.md section 2.2) of base width ``w`` (48).

    enc1: 3 BConv to ``w``, BPool (skip ``s1``); enc2: 3 BConv, BPool; enc3: BConv ``w -> 2w -> 2w -> w``;
    dec2: up, concat ``s1``, 4 BConv at ``2w``; dec1: up, concat the input, 4 BConv to ``o``.
    ``(N, n, S, S) -> (N, o, S, S)`` (any size: floor pooling, zero padding after upsampling).
    Parameters: ``9 (3 w n + 41 w^2 + 2 w o)``.
    """

    def __init__(self, in_channels: int, out_channels: int, width: int = 48) -> None:
        super().__init__()
        n, w = in_channels, width
        self.enc1 = _convs(n, w, w, w)
        self.enc2 = _convs(w, w, w, w)
        self.enc3 = _convs(w, 2 * w, 2 * w, w)
        self.dec2 = _convs(2 * w, 2 * w, 2 * w, 2 * w, 2 * w)
        self.dec1 = _convs(2 * w + n, 2 * w, 2 * w, 2 * w, out_channels)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """``(N, n, H, W) -> (N, o, H, W)``, vertically causal."""
        s1 = blind_pool(self.enc1(x))  # N, w, H/2, W/2
        deep = self.enc3(blind_pool(self.enc2(s1)))  # N, w, H/4, W/4
        return self.dec1(up_concat(self.dec2(up_concat(deep, s1)), x))


class UDVD(nn.Module):
    """Unsupervised Deep Video Denoising: a blind network on a five-frame window around each frame.

    Parameters
    ----------
    in_channels
        3 for sRGB, 4 for packed RGGB raw.
    head
        ``"gaussian"`` (sRGB default): mean plus factor entries, as STBN; ``"direct"`` (raw default).
    width
        Base width ``w`` of both U-Nets (published: 48); the wide layers have ``2w``.
    triplet_features
        Channels of each triplet's encoding (published: 32).
    square_pad
        How a non-square frame is padded to the square the rotations need: ``"zeros"`` (default, blind)
        or ``"reflect"`` (the published code; leaks the centre pixel on non-square frames, kept only to
        match released checkpoints exactly).

    The model takes no noise map and no flows. Shapes: :meth:`forward` ``(N, T, C, H, W) ->
    (N, T, out_channels, H, W)``; :meth:`window` ``(N, 5, C, H, W) -> (N, out_channels, H, W)``.
    """

    uses_noise_map = False

    def __init__(
        self,
        in_channels: int = 3,
        head: Head | None = None,
        width: int = 48,
        triplet_features: int = 32,
        square_pad: SquarePad = "zeros",
    ) -> None:
        super().__init__()
        if in_channels not in (3, 4):
            raise ValueError(f"UDVD supports 3 (sRGB) or 4 (packed raw) input channels, got {in_channels}")
        if square_pad not in ("zeros", "reflect"):
            raise ValueError(f"unknown square padding {square_pad!r} (zeros | reflect)")
        self.in_channels = in_channels
        self.head_kind: Head = ("gaussian" if in_channels == 3 else "direct") if head is None else head
        self.out_channels = gaussian_channels(in_channels) if self.head_kind == "gaussian" else in_channels
        self.square_pad: SquarePad = square_pad
        wide = 2 * width
        self.triplet_net = BlindUNet(TRIPLET * in_channels, triplet_features, width)
        self.window_net = BlindUNet(TRIPLETS * triplet_features, wide, width)
        self.mix = nn.Sequential(
            nn.Conv2d(4 * wide, 4 * wide, 1, bias=False),
            nn.LeakyReLU(SLOPE),
            nn.Conv2d(4 * wide, wide, 1, bias=False),
            nn.LeakyReLU(SLOPE),
            nn.Conv2d(wide, self.out_channels, 1, bias=False),
        )

    def num_parameters(self) -> int:
        """Number of parameters."""
        return sum(p.numel() for p in self.parameters())

    # ------------------------------------------------------------------ parts
    def encode(self, triplet: torch.Tensor) -> torch.Tensor:
        """Encode three consecutive frames ``(N, 3, C, H, W)``: pad to the square ``S = max(H, W)``, stack
        the four quarter turns along the batch (0, 90, 180, 270 degrees) and run the triplet U-Net:
        ``(4N, triplet_features, S, S)``, vertically causal in each turn's own frame."""
        x = pad_to_square(triplet.flatten(1, 2), self.square_pad)  # N, 3C, S, S (frame-major channels)
        return self.triplet_net(torch.cat([rotate(x, k) for k in range(4)], dim=0))

    def decode(self, encodings: tuple[torch.Tensor, ...], size: tuple[int, int]) -> torch.Tensor:
        """The output of the window whose triplets are ``encodings`` (:data:`TRIPLETS` x :meth:`encode`, in time order)
        for frames of ``size`` ``(H, W)``: ``(N, out_channels, H, W)``.

        Window U-Net, one-row shift (strictly causal), each quarter turn turned back and the four put
        side by side along channels (above, right, below, left of each pixel), 1x1 head, crop.
        """
        x = shift_down(self.window_net(torch.cat(encodings, dim=1)))  # 4N, 2w, S, S
        x = torch.cat([rotate(part, -k) for k, part in enumerate(x.chunk(4, dim=0))], dim=1)  # N, 8w, S, S
        (h, w), (top, left) = size, square_offset(*size)
        return self.mix(x)[..., top : top + h, left : left + w]

    def window(self, frames: torch.Tensor) -> torch.Tensor:
        """The output for the centre frame of one window ``(N, 5, C, H, W)``: ``(N, out_channels, H, W)``."""
        self._check(frames)
        if frames.shape[1] != WINDOW:
            raise ValueError(f"UDVD.window expects {WINDOW} frames, got {frames.shape[1]}")
        return self.decode(tuple(self.encode(frames[:, k : k + TRIPLET]) for k in range(TRIPLETS)), frames.shape[-2:])

    # ------------------------------------------------------------------ clips
    def stream(
        self, frames: Iterable[torch.Tensor], noise_map: torch.Tensor | float | None = None
    ) -> Iterator[tuple[torch.Tensor, torch.Tensor]]:
        """Slide the window over frames ``(N, C, H, W)`` read once, in order; yield ``(noisy_t, out_t)``,
        ``out_t`` ``(N, out_channels, H, W)``, for every frame t.

        Frame t's output is yielded once frame t+2 has been read (or the stream has ended: the last frame
        is then repeated). At most three frames and three triplet encodings are held, whatever the clip
        length. ``noise_map`` is accepted for a uniform call and ignored (UDVD takes none).
        """
        source = iter(frames)
        held: dict[int, torch.Tensor] = {}
        encoded: dict[int, torch.Tensor] = {}  # triplet start s -> encoding of frames s, s+1, s+2 (clamped)
        read, last = 0, None  # frames read so far; index of the final frame, once the stream has ended
        t = 0
        while True:
            while last is None and read <= t + RADIUS:
                frame = next(source, None)
                if frame is None:
                    last = read - 1
                else:
                    held[read], read = frame, read + 1
            if last is not None and t > last:
                return
            end = last if last is not None else t + RADIUS
            for s in range(t - RADIUS, t + 1):
                if s not in encoded:
                    triplet = [held[min(max(s + k, 0), end)] for k in range(TRIPLET)]
                    encoded[s] = self.encode(torch.stack(triplet, dim=1))
            out = self.decode(tuple(encoded[s] for s in range(t - RADIUS, t + 1)), held[t].shape[-2:])
            yield held[t], out
            held = {i: f for i, f in held.items() if i > t}
            encoded = {s: e for s, e in encoded.items() if s > t - RADIUS}
            t += 1

    def forward(self, noisy: torch.Tensor, noise_map: torch.Tensor | float | None = None) -> torch.Tensor:
        """Denoise a clip ``(N, T, C, H, W)``: ``(N, T, out_channels, H, W)``, frame t from the window
        ``clamp(t - 2 .. t + 2)``; for the Gaussian head the mean (C) then the factor entries.
        ``noise_map`` is accepted for a uniform call and ignored (UDVD takes none)."""
        self._check(noisy)
        return torch.stack([out for _, out in self.stream(noisy.unbind(1))], dim=1)

    def _check(self, clip: torch.Tensor) -> None:
        if clip.dim() != 5 or clip.shape[2] != self.in_channels:
            raise ValueError(f"UDVD expects frames (N,T,{self.in_channels},H,W), got {tuple(clip.shape)}")
        if max(clip.shape[-2:]) < MIN_SIDE:
            raise ValueError(
                f"UDVD needs frames at least {MIN_SIDE} pixels on the longer side, got {tuple(clip.shape)}"
            )
