"""Bayer raw data: packing to 4-channel RGGB, black/white level normalisation, sRGB -> raw unprocessing.

Layouts: a Bayer mosaic is ``(..., H, W)`` with even ``H`` and ``W``; a packed frame is
``(..., H/2, W/2, 4)`` with channels ``[R, Gr, Gb, B]`` (Gr: the green in R's row). For CRVD's GBRG
sensor this is exactly RViDeNet's ``[im[1::2,0::2], im[1::2,1::2], im[0::2,0::2], im[0::2,1::2]]``.
Functions accept numpy arrays or torch tensors and return the same kind.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from pathlib import Path
from typing import TypeVar

import numpy as np
import tifffile
import torch

from stbn.errors import StbnError

Array = TypeVar("Array", np.ndarray, torch.Tensor)

BLACK_LEVEL = 240
WHITE_LEVEL = 4095
PATTERNS = ("RGGB", "BGGR", "GRBG", "GBRG")
CRVD_PATTERN = "GBRG"

# CRVD camera constants (RViDeNet) and the sRGB (D65) -> XYZ matrix.
CAM2XYZ = np.array([[0.4679, 0.2145, 0.3176], [0.1433, 0.8236, 0.0331], [0.0003, -0.3607, 1.3604]])
SRGB2XYZ = np.array(
    [[0.4124564, 0.3575761, 0.1804375], [0.2126729, 0.7151522, 0.0721750], [0.0193339, 0.1191920, 0.9503041]]
)
RED_GAIN = 1 / 0.5527
BLUE_GAIN = 1 / 0.4844


def _positions(pattern: str) -> list[tuple[int, int]]:
    """Offsets ``(row, col)`` inside the 2x2 cell of R, Gr, Gb, B for a pattern such as ``"GBRG"``."""
    if pattern not in PATTERNS:
        raise StbnError(f"unsupported CFA pattern {pattern!r} (expected one of {', '.join(PATTERNS)})")
    cell = {(i // 2, i % 2): ch for i, ch in enumerate(pattern)}
    r = next(p for p, ch in cell.items() if ch == "R")
    b = next(p for p, ch in cell.items() if ch == "B")
    return [r, (r[0], 1 - r[1]), (b[0], 1 - b[1]), b]


def _check_even(bayer: np.ndarray | torch.Tensor) -> None:
    h, w = bayer.shape[-2:]
    if h % 2 or w % 2:
        raise StbnError(f"Bayer mosaic is {h}x{w}; both dimensions must be even")


def pack_bayer(bayer: Array, pattern: str) -> Array:
    """Pack a mosaic ``(..., H, W)`` with CFA ``pattern`` into ``(..., H/2, W/2, 4)`` ``[R, Gr, Gb, B]``."""
    _check_even(bayer)
    planes = [bayer[..., i::2, j::2] for i, j in _positions(pattern)]
    return torch.stack(planes, dim=-1) if isinstance(bayer, torch.Tensor) else np.stack(planes, axis=-1)


def unpack_bayer(packed: Array, pattern: str) -> Array:
    """Inverse of :func:`pack_bayer`: ``(..., H/2, W/2, 4) -> (..., H, W)``."""
    if packed.shape[-1] != 4:
        raise StbnError(f"packed raw frame has {packed.shape[-1]} channels; expected 4 (R, Gr, Gb, B)")
    *lead, h, w, _ = packed.shape
    if isinstance(packed, torch.Tensor):
        out = packed.new_zeros(*lead, 2 * h, 2 * w)
    else:
        out = np.zeros((*lead, 2 * h, 2 * w), dtype=packed.dtype)
    for k, (i, j) in enumerate(_positions(pattern)):
        out[..., i::2, j::2] = packed[..., k]
    return out


def pack_gbrg(bayer: Array) -> Array:
    """Pack a GBRG mosaic (CRVD) ``(..., H, W)`` into ``(..., H/2, W/2, 4)`` RGGB."""
    return pack_bayer(bayer, CRVD_PATTERN)


def unpack_to_gbrg(packed: Array) -> Array:
    """Unpack ``(..., H/2, W/2, 4)`` RGGB into a GBRG mosaic ``(..., H, W)``."""
    return unpack_bayer(packed, CRVD_PATTERN)


def normalise_raw(x: Array, black: float | np.ndarray = BLACK_LEVEL, white: float = WHITE_LEVEL) -> Array:
    """``clamp(x - black, min=0) / (white - black)`` as float32; no upper clamp (as RViDeNet/STBN)."""
    if isinstance(x, torch.Tensor):
        return torch.clamp(x.float() - torch.as_tensor(black, dtype=torch.float32, device=x.device), min=0) / (
            white - black
        )
    return (np.maximum(x.astype(np.float32) - np.float32(black), 0) / np.float32(white - black)).astype(np.float32)


def denormalise_raw(x: Array) -> Array:
    """Normalised raw -> CRVD digital numbers ``round(clip(x, 0, 1) * 3855 + 240)`` as uint16 (numpy) / int32."""
    scale = WHITE_LEVEL - BLACK_LEVEL
    if isinstance(x, torch.Tensor):
        return torch.round(x.clamp(0, 1) * scale + BLACK_LEVEL).to(torch.int32)
    return np.round(np.clip(x, 0, 1) * scale + BLACK_LEVEL).astype(np.uint16)


def rgb2cam() -> np.ndarray:
    """The CRVD camera's sRGB -> camera matrix: row-normalised ``inv(cam2xyz) @ srgb2xyz``, ``(3, 3)``."""
    m = np.linalg.inv(CAM2XYZ) @ SRGB2XYZ
    return m / m.sum(axis=1, keepdims=True)


def _apply_matrix(img: np.ndarray, m: np.ndarray) -> np.ndarray:
    # Element-wise sums instead of a BLAS matmul keep the result bit-identical across machines.
    return np.stack([sum(img[..., j] * m[i, j] for j in range(3)) for i in range(3)], axis=-1)


def unprocess(rgb: np.ndarray, pattern: str = CRVD_PATTERN) -> np.ndarray:
    """Turn an sRGB frame ``(H, W, 3)`` in [0, 1] into a CRVD-like raw mosaic ``(H, W)`` uint16 DN.

    Steps (Brooks et al. 2019 with the CRVD camera's constants): inverse smoothstep tone curve,
    gamma 2.2 expansion, sRGB -> camera colour, inverse white-balance gains that spare saturated
    highlights, mosaic, then ``x * 3855 + 240``. ``H`` and ``W`` must be even.
    """
    if rgb.ndim != 3 or rgb.shape[-1] != 3:
        raise StbnError(f"unprocess expects an (H, W, 3) sRGB frame; got shape {rgb.shape}")
    _check_even(rgb[..., 0])
    x = np.clip(rgb.astype(np.float64), 0.0, 1.0)
    x = 0.5 - np.sin(np.arcsin(1.0 - 2.0 * x) / 3.0)
    x = np.maximum(x, 1e-8) ** 2.2
    x = _apply_matrix(x, rgb2cam())
    gains = np.array([1.0 / RED_GAIN, 1.0, 1.0 / BLUE_GAIN])
    gray = x.mean(axis=-1, keepdims=True)
    highlight = (np.maximum(gray - 0.9, 0.0) / 0.1) ** 2
    x = x * np.maximum(highlight + (1.0 - highlight) * gains, gains)
    cam = np.clip(x, 0.0, 1.0)
    planes = [cam[i::2, j::2, c] for (i, j), c in zip(_positions(pattern), (0, 1, 1, 2), strict=True)]
    return denormalise_raw(unpack_bayer(np.stack(planes, axis=-1), pattern))


# --- CRVD files: single-channel 16-bit GBRG TIFFs in two circulating folder layouts -------------------

CRVD_ISOS = (1600, 3200, 6400, 12800, 25600)
CRVD_FRAMES = tuple(range(1, 8))


def crvd_file_name(frame: int, realisation: int | None) -> str:
    """``frame{i}_noisy{r}.tiff``, or ``frame{i}_clean_and_slightly_denoised.tiff`` when ``realisation`` is None."""
    tail = "clean_and_slightly_denoised" if realisation is None else f"noisy{realisation}"
    return f"frame{frame}_{tail}.tiff"


def crvd_scene_candidates(root: Path, part: str, scene: int) -> list[Path]:
    """Where scene folders may live: the official nesting first, then the flattened variant."""
    base = Path(root) / f"indoor_raw_{part}"
    return [base / f"indoor_raw_{part}_scene{scene}" / f"scene{scene}", base / f"scene{scene}"]


def crvd_scene_dir(root: Path, part: str, scene: int) -> Path:
    """The folder holding ``ISO{iso}/`` for ``part`` ("gt" | "noisy") and ``scene``, in either layout."""
    candidates = crvd_scene_candidates(root, part, scene)
    for cand in candidates:
        if cand.is_dir():
            return cand
    raise StbnError(f"{root}: CRVD scene {scene} not found (looked for {' and '.join(map(str, candidates))})")


def crvd_scenes(root: Path) -> list[int]:
    """Scene numbers present under ``root/indoor_raw_gt`` (either layout), sorted."""
    base = Path(root) / "indoor_raw_gt"
    found = {
        int(m.group(1)) for p in base.glob("*scene*") if (m := re.fullmatch(r"(?:indoor_raw_gt_)?scene(\d+)", p.name))
    }
    return sorted(found)


def read_bayer_tiff(path: Path) -> np.ndarray:
    """Read a single-channel 16-bit Bayer TIFF (CRVD) as uint16 ``(H, W)``; errors name the file."""
    path = Path(path)
    if not path.is_file():
        raise StbnError(f"{path}: file not found")
    try:
        bayer = tifffile.imread(path)
    except Exception as exc:  # tifffile raises many types for damaged files
        raise StbnError(f"{path}: unreadable TIFF ({exc})") from None
    if bayer.ndim != 2 or bayer.dtype != np.uint16:
        raise StbnError(f"{path}: expected a single-channel 16-bit Bayer TIFF, got {bayer.dtype} {bayer.shape}")
    if bayer.shape[0] % 2 or bayer.shape[1] % 2:
        raise StbnError(f"{path}: Bayer frame is {bayer.shape[0]}x{bayer.shape[1]}; both dimensions must be even")
    return bayer


def read_crvd_sequence(
    root: Path,
    scene: int,
    iso: int,
    realisation: int | None = 0,
    frames: Sequence[int] = CRVD_FRAMES,
    packed: bool = True,
) -> np.ndarray:
    """Read one CRVD clip: noisy realisation ``realisation`` (None: the clean ground truth).

    Returns ``(T, H/2, W/2, 4)`` float32 RGGB normalised by :func:`normalise_raw` when ``packed``,
    else the GBRG mosaics ``(T, H, W)`` uint16 as stored.
    """
    part = "gt" if realisation is None else "noisy"
    folder = crvd_scene_dir(root, part, scene) / f"ISO{iso}"
    mosaics = np.stack([read_bayer_tiff(folder / crvd_file_name(i, realisation)) for i in frames])
    return normalise_raw(pack_gbrg(mosaics)) if packed else mosaics
