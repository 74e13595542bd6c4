"""Training clip sampling: T consecutive frames, one random crop shared by the frames, noise on the fly.

Sequences are float32 arrays ``(T_i, H, W, C)``: sRGB on [0, 1] or packed RGGB raw, normalised
(black 240, white 4095). Raw crops are taken on the packed grid, so each starts on an even Bayer
offset. Batches are ``(N, T, C, crop, crop)`` tensors.

Everything random is a pure function of ``(seed, step)``: clip order (a fresh permutation of all
clips per epoch), crop positions, noise levels and noise. A resumed run therefore reproduces the
uninterrupted run's batches from the step number alone, with no sampler state to carry.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import torch

from stbn.config import DataConfig, unit_sigma
from stbn.data.noise import add_awgn_test, add_raw_noise, awgn
from stbn.data.raw import BLACK_LEVEL, WHITE_LEVEL
from stbn.errors import StbnError

_RAW_SPAN = WHITE_LEVEL - BLACK_LEVEL


def _seed(*keys: int) -> int:
    """A 63-bit seed derived from integer keys (independent streams per key tuple)."""
    return int(np.random.SeedSequence([int(k) for k in keys]).generate_state(2, np.uint64)[0] >> np.uint64(1))


def clip_starts(num_frames: int, clip_length: int, stride: int) -> list[int]:
    """Start frames of the clips of a sequence: ``0, stride, 2 stride, ...`` while the clip fits."""
    return list(range(0, num_frames - clip_length + 1, stride))


@dataclass
class Batch:
    """One training batch: ``noisy`` ``(N, T, C, h, w)``; ``clean`` likewise when known; ``sigma``
    ``(N, 1, 1, 1, 1)`` on the [0, 1] scale for sRGB (None for raw); ``flows`` the precomputed
    ``(fwd, bwd)``, each ``(N, T-1, 2, h, w)``, when the clips carry them (None: the model estimates them)."""

    noisy: torch.Tensor
    clean: torch.Tensor | None
    sigma: torch.Tensor | None
    flows: tuple[torch.Tensor, torch.Tensor] | None = None


class ClipSampler:
    """Which clips and crops make up the batch of a step (deterministic in ``(seed, step)``)."""

    def __init__(
        self, shapes: Sequence[tuple[int, ...]], clip_length: int, stride: int, crop: int, batch_size: int, seed: int
    ) -> None:
        self.clips = [(s, t) for s, shape in enumerate(shapes) for t in clip_starts(shape[0], clip_length, stride)]
        if not self.clips:
            longest = max((shape[0] for shape in shapes), default=0)
            raise StbnError(f"no training clip of {clip_length} frames: the longest sequence has {longest} frames")
        small = [i for i, shape in enumerate(shapes) if min(shape[1:3]) < crop]
        if small:
            h, w = shapes[small[0]][1:3]
            raise StbnError(f"training sequence {small[0]} ({h}x{w}) is smaller than the {crop}-pixel crop")
        self.shapes, self.clip_length, self.crop = list(shapes), clip_length, crop
        self.batch_size, self.seed = batch_size, seed
        self._perm: tuple[int, np.ndarray] | None = None

    def _permutation(self, epoch: int) -> np.ndarray:
        if self._perm is None or self._perm[0] != epoch:
            self._perm = (epoch, np.random.default_rng(_seed(self.seed, 0, epoch)).permutation(len(self.clips)))
        return self._perm[1]

    def specs(self, step: int) -> list[tuple[int, int, int, int]]:
        """``(sequence, start frame, top, left)`` of each clip of the batch at ``step``."""
        rng = np.random.default_rng(_seed(self.seed, 1, step))
        out = []
        for j in range(self.batch_size):
            pos = step * self.batch_size + j
            seq, start = self.clips[int(self._permutation(pos // len(self.clips))[pos % len(self.clips)])]
            _, h, w = self.shapes[seq][:3]
            top, left = (int(v) for v in rng.integers(0, (h - self.crop + 1, w - self.crop + 1)))
            out.append((seq, start, top, left))
        return out

    def take(self, sequences: Sequence[np.ndarray | torch.Tensor], spec: tuple[int, int, int, int]) -> torch.Tensor:
        """The clip ``spec`` of ``sequences`` (``(T, H, W, C)`` each) as ``(T, C, crop, crop)``."""
        seq, start, top, left = spec
        clip = sequences[seq][start : start + self.clip_length, top : top + self.crop, left : left + self.crop]
        return torch.as_tensor(np.ascontiguousarray(clip)).permute(0, 3, 1, 2)


class TrainingClips:
    """Noisy training batches from clean sequences (fresh noise per step) or from fixed noisy ones.

    ``clean``: sequences to add noise to on the fly (sRGB: AWGN with sigma drawn per clip from
    ``sigma_range_255``; raw: CRVD noise at an ISO drawn per clip from ``isos``).
    ``noisy``: fixed noisy sequences (one realisation, e.g. the video to denoise); the loss then sees
    the same noise every time, and sRGB uses ``sigma_range_255[0]``. Give either or both (both: ``clean``
    is only carried along for logging). ``flows``: per sequence the whole sequence's ``(fwd, bwd)``
    flows, each ``(T_i - 1, 2, H, W)``, estimated once; batches then carry their crops. ``augment``: each
    clip is flipped, transposed and reversed in time at random (:func:`augment`; its own random stream, so
    runs without it are unchanged).
    """

    def __init__(
        self,
        kind: str,
        clip_length: int,
        stride: int,
        crop: int,
        batch_size: int,
        seed: int,
        clean: Sequence[np.ndarray] | None = None,
        noisy: Sequence[np.ndarray] | None = None,
        sigma_range_255: tuple[float, float] = (30.0, 30.0),
        isos: Sequence[int] = (25600,),
        flows: Sequence[tuple[torch.Tensor, torch.Tensor]] | None = None,
        augment: bool = False,
    ) -> None:
        source = noisy if noisy is not None else clean
        if not source:
            raise StbnError("no training sequences")
        shapes = [tuple(s.shape) for s in source]
        channels = 3 if kind == "srgb" else 4
        bad = [i for i, shape in enumerate(shapes) if len(shape) != 4 or shape[3] != channels]
        if bad:
            raise StbnError(
                f"training sequence {bad[0]} has shape {shapes[bad[0]]}, expected (T, H, W, {channels}) for {kind}"
            )
        self.sampler = ClipSampler(shapes, clip_length, stride, crop, batch_size, seed)
        self.kind, self.seed, self.clean, self.noisy = kind, seed, clean, noisy
        self.sigma_range_255, self.isos, self.flows, self.augment = sigma_range_255, list(isos), flows, augment

    @classmethod
    def from_config(cls, cfg: DataConfig, clean: Sequence[np.ndarray], seed: int) -> TrainingClips:
        """Clips as ``cfg`` says; with ``cfg.fixed_noisy`` the noise is drawn once per sequence
        (sRGB: exactly the evaluation protocol's seed-0 noise, so this trains on the test video)."""
        noisy = [fixed_noisy(c, cfg.kind, cfg.sigma_range[0], cfg.isos[0]) for c in clean] if cfg.fixed_noisy else None
        return cls(
            cfg.kind, cfg.clip_length, cfg.temporal_stride, cfg.crop, cfg.batch_size, seed,
            clean=clean, noisy=noisy, sigma_range_255=cfg.sigma_range, isos=cfg.isos, augment=cfg.augment,
        )

    def batch(self, step: int) -> Batch:
        """The batch of ``step``."""
        specs = self.sampler.specs(step)
        gen = torch.Generator().manual_seed(_seed(self.seed, 2, step))
        clean = torch.stack([self.sampler.take(self.clean, s) for s in specs]) if self.clean is not None else None
        n = len(specs)
        sigma = None
        if self.kind == "srgb":
            lo, hi = self.sigma_range_255
            if self.noisy is not None:
                hi = lo  # a fixed realisation has one known level
            sigma = unit_sigma(lo + (hi - lo) * torch.rand(n, generator=gen)).reshape(n, 1, 1, 1, 1)
        if self.noisy is not None:
            noisy = torch.stack([self.sampler.take(self.noisy, s) for s in specs])
        elif self.kind == "srgb":
            noisy = awgn(clean, sigma, generator=gen)
        else:
            isos = [self.isos[int(i)] for i in torch.randint(len(self.isos), (n,), generator=gen)]
            noisy = torch.stack([raw_noisy(c, iso, gen) for c, iso in zip(clean, isos)])
        flows = self._flows(specs)
        if self.augment:
            codes = torch.randint(16, (n,), generator=torch.Generator().manual_seed(_seed(self.seed, 3, step)))
            noisy, flows = augment(noisy, flows, codes)
            clean = augment(clean, None, codes)[0] if clean is not None else None
        return Batch(noisy=noisy, clean=clean, sigma=sigma, flows=flows)

    def _flows(self, specs: list[tuple[int, int, int, int]]) -> tuple[torch.Tensor, torch.Tensor] | None:
        """The crops of the precomputed flows for ``specs`` (the flows between a clip's own frames)."""
        if self.flows is None:
            return None
        s = self.sampler
        crops = [
            [f[start : start + s.clip_length - 1, :, top : top + s.crop, left : left + s.crop] for f in self.flows[seq]]
            for seq, start, top, left in specs
        ]
        return torch.stack([c[0] for c in crops]), torch.stack([c[1] for c in crops])


def augment(
    clips: torch.Tensor, flows: tuple[torch.Tensor, torch.Tensor] | None, codes: torch.Tensor
) -> tuple[torch.Tensor, tuple[torch.Tensor, torch.Tensor] | None]:
    """Per clip, flip rows, flip columns, transpose and reverse time as the bits of ``codes[i]`` (0-15) say.

    ``clips`` ``(N, T, C, s, s)`` (square crops); ``flows`` their ``(fwd, bwd)``, each ``(N, T-1, 2, s, s)``
    in pixels (channel 0 = x), moved with the frames so that each still aligns the same pairs: a column
    flip negates x, a row flip y, a transpose swaps them, and reversing time swaps the directions.
    """
    out, fwd_out, bwd_out = [], [], []
    for i, code in enumerate(codes.tolist()):
        x = clips[i]
        f, b = (flows[0][i], flows[1][i]) if flows is not None else (None, None)
        for bit, dim, component in ((1, -2, 1), (2, -1, 0)):  # flip rows (moves y), flip columns (moves x)
            if code & bit:
                x = x.flip(dim)
                if f is not None:
                    sign = torch.ones(2, 1, 1, dtype=f.dtype)
                    sign[component] = -1
                    f, b = f.flip(dim) * sign, b.flip(dim) * sign
        if code & 4:
            x = x.transpose(-1, -2)
            if f is not None:
                f, b = f.transpose(-1, -2).flip(-3), b.transpose(-1, -2).flip(-3)
        if code & 8:
            x = x.flip(0)
            if f is not None:
                f, b = b.flip(0), f.flip(0)
        out.append(x)
        fwd_out.append(f)
        bwd_out.append(b)
    clips = torch.stack(out).contiguous()
    if flows is None:
        return clips, None
    return clips, (torch.stack(fwd_out).contiguous(), torch.stack(bwd_out).contiguous())


def raw_noisy(clean: torch.Tensor, iso: int, generator: torch.Generator | None = None) -> torch.Tensor:
    """Normalised packed raw in, CRVD noise at ``iso`` added in DN, normalised back (not clamped above)."""
    dn = add_raw_noise(clean * _RAW_SPAN + BLACK_LEVEL, iso, generator=generator)
    return (torch.clamp(dn - BLACK_LEVEL, min=0) / _RAW_SPAN).to(clean.dtype)


def fixed_noisy(clean: np.ndarray, kind: str, sigma_255: float, iso: int) -> np.ndarray:
    """One fixed noisy realisation of a ``(T, H, W, C)`` sequence: sRGB the test protocol's seed-0
    AWGN, raw CRVD noise at ``iso`` from a seed-0 generator."""
    x = torch.as_tensor(clean)
    if kind == "srgb":
        return add_awgn_test(x, sigma_255, channels_last=True).numpy()
    return raw_noisy(x, iso, torch.Generator().manual_seed(0)).numpy()
