"""Frame I/O: streaming readers for video files, frame folders and DNG sequences; atomic writers.

Frames handed out are float32 numpy arrays: RGB ``(H, W, 3)`` in [0, 1], or raw ``(H/2, W/2, 4)``
packed ``[R, Gr, Gb, B]`` normalised by the file's black and white levels (see :mod:`stbn.data.raw`).
Readers and writers share the format tables (suffixes, bit depths, the DNG and CRVD layouts), so they
stay one module (about 390 lines).
"""

from __future__ import annotations

import re
from abc import ABC, abstractmethod
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path

import av
import cv2
import numpy as np
import rawpy
import tifffile

from stbn.data import raw
from stbn.data.atomic import atomic_output
from stbn.errors import StbnError

VIDEO_SUFFIXES = (".mp4", ".mkv", ".mov", ".avi", ".m4v", ".webm")
WRITABLE_VIDEO_SUFFIXES = (".mp4", ".mkv", ".mov")
IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".tif", ".tiff", ".bmp")
DNG_SUFFIX = ".dng"
_CRVD_NAME = re.compile(r"frame\d+_(noisy\d+|clean_and_slightly_denoised)\.tiff?", re.IGNORECASE)


def natural_key(name: str) -> tuple:
    """Sort key comparing digit runs as numbers: ``frame2 < frame10``; ``00009 < 00010``."""
    parts = re.split(r"(\d+)", name.lower())
    return tuple(int(p) if i % 2 else p for i, p in enumerate(parts))


def frame_files(folder: Path, suffixes: Iterable[str] = (*IMAGE_SUFFIXES, DNG_SUFFIX)) -> list[Path]:
    """Visible files of ``folder`` with one of ``suffixes`` (any case), in natural order of their names."""
    wanted = tuple(suffixes)
    files = [p for p in Path(folder).iterdir() if p.is_file() and not p.name.startswith(".")]
    return sorted((p for p in files if p.suffix.lower() in wanted), key=lambda p: natural_key(p.name))


def _to_unit_float(img: np.ndarray, path: Path) -> np.ndarray:
    if img.dtype == np.uint8:
        return img.astype(np.float32) / 255.0
    if img.dtype == np.uint16:
        return img.astype(np.float32) / 65535.0
    if img.dtype.kind == "f":
        return img.astype(np.float32)
    raise StbnError(f"{path}: unsupported sample type {img.dtype} (expected 8/16-bit or float)")


def read_image(path: Path) -> np.ndarray:
    """Read one image file as RGB float32 ``(H, W, 3)`` in [0, 1] (8-bit /255, 16-bit /65535).

    Grey images are replicated to three channels and alpha is dropped. PNG/JPEG/BMP are decoded by
    OpenCV (as the paper's loader), TIFF by tifffile.
    """
    path = Path(path)
    try:
        if path.suffix.lower() in (".tif", ".tiff"):
            img = tifffile.imread(path)
        else:
            img = cv2.imdecode(np.fromfile(path, dtype=np.uint8), cv2.IMREAD_UNCHANGED)
            if img is not None and img.ndim == 3:
                img = cv2.cvtColor(img, cv2.COLOR_BGRA2RGB if img.shape[2] == 4 else cv2.COLOR_BGR2RGB)
    except Exception as exc:  # decoders raise many exception types for damaged files
        raise StbnError(f"{path}: unreadable image ({exc})") from None
    if img is None or img.size == 0:
        raise StbnError(f"{path}: unreadable image (corrupt or unsupported format)")
    if img.ndim == 2:
        img = img[..., None]
    if img.ndim != 3 or img.shape[2] not in (1, 3, 4):
        raise StbnError(f"{path}: unsupported image shape {img.shape}")
    img = np.repeat(img, 3, axis=2) if img.shape[2] == 1 else img[..., :3]
    return _to_unit_float(np.ascontiguousarray(img), path)


@dataclass(frozen=True)
class RawFrame:
    """A Bayer frame as stored: ``bayer`` ``(H, W)`` uint16, CFA ``pattern`` (e.g. "GBRG"), and levels.

    ``black`` holds one black level per packed channel ``[R, Gr, Gb, B]``.
    """

    bayer: np.ndarray
    pattern: str
    black: np.ndarray
    white: float

    def packed(self) -> np.ndarray:
        """``(H/2, W/2, 4)`` float32 RGGB normalised by the frame's own levels."""
        return raw.normalise_raw(raw.pack_bayer(self.bayer, self.pattern), self.black, self.white)


def read_dng(path: Path) -> RawFrame:
    """Read a DNG with rawpy/LibRaw: the visible mosaic, CFA pattern, black and white levels."""
    path = Path(path)
    try:
        with rawpy.imread(str(path)) as r:
            bayer = r.raw_image_visible.copy()
            desc = r.color_desc.decode()
            cells = [[int(v) for v in row] for row in r.raw_pattern]
            per_channel = list(r.black_level_per_channel)
            white = float(r.white_level)
    except Exception as exc:  # rawpy raises LibRawError subclasses, OSError, ValueError ...
        raise StbnError(f"{path}: unreadable DNG ({type(exc).__name__}: {exc})") from None
    if len(cells) != 2 or any(len(row) != 2 for row in cells):
        raise StbnError(f"{path}: unsupported CFA layout {cells} (expected a 2x2 Bayer pattern)")
    pattern = "".join(desc[cells[i][j]] for i in range(2) for j in range(2))
    if pattern not in raw.PATTERNS:
        raise StbnError(f"{path}: unsupported CFA pattern {pattern!r} (expected one of {', '.join(raw.PATTERNS)})")
    if bayer.shape[0] % 2 or bayer.shape[1] % 2:
        raise StbnError(f"{path}: Bayer frame is {bayer.shape[0]}x{bayer.shape[1]}; both dimensions must be even")
    black_cell = np.array([[per_channel[cells[i][j]] for j in range(2)] for i in range(2)], dtype=np.float32)
    black = raw.pack_bayer(black_cell, pattern).reshape(4)
    return RawFrame(bayer, pattern, black, white)


def write_dng(
    path: Path,
    bayer: np.ndarray,
    pattern: str = raw.CRVD_PATTERN,
    black: int = raw.BLACK_LEVEL,
    white: int = raw.WHITE_LEVEL,
) -> Path:
    """Write a uint16 Bayer mosaic ``(H, W)`` as a minimal DNG that LibRaw reads bit-exactly (atomic).

    Colour metadata are the CRVD camera's: ColorMatrix1 = inv(cam2xyz), AsShotNeutral = (0.5527, 1, 0.4844).
    """
    if bayer.ndim != 2 or bayer.dtype != np.uint16:
        raise StbnError(f"{path}: a DNG needs a (H, W) uint16 mosaic, got {bayer.dtype} {bayer.shape}")
    raw.pack_bayer(bayer, pattern)  # validates the pattern and even dimensions
    color = np.linalg.inv(raw.CAM2XYZ).ravel()
    neutral = (1 / raw.RED_GAIN, 1.0, 1 / raw.BLUE_GAIN)

    def rationals(values: Iterable[float]) -> tuple[int, ...]:
        pairs = [Fraction(v).limit_denominator(10_000) for v in values]
        return tuple(x for f in pairs for x in (f.numerator, f.denominator))

    tags = [
        (271, "s", 0, "stbn", True),
        (272, "s", 0, "embedded-crvd", True),
        (33421, "H", 2, (2, 2), True),
        (33422, "B", 4, tuple("RGB".index(c) for c in pattern), True),
        (50706, "B", 4, (1, 4, 0, 0), True),
        (50708, "s", 0, "stbn embedded-crvd", True),
        (50714, "I", 1, (int(black),), True),
        (50717, "I", 1, (int(white),), True),
        (50721, "2i", 9, rationals(color), True),
        (50728, "2I", 3, rationals(neutral), True),
    ]
    with atomic_output(Path(path)) as tmp:
        tifffile.imwrite(tmp, bayer, photometric=32803, extratags=tags, metadata=None)
    return Path(path)


class FrameSource(ABC):
    """A streaming sequence of frames. ``kind`` is "rgb" or "raw"; ``size`` is ``(H, W)`` of each frame.

    ``len()`` is the frame count; ``fps`` is the frame rate of a video file (None for folders).
    """

    path: Path
    kind: str
    size: tuple[int, int]
    fps: float | None

    @abstractmethod
    def __len__(self) -> int: ...

    @abstractmethod
    def __iter__(self) -> Iterator[np.ndarray]: ...


class VideoSource(FrameSource):
    """Frames of a video file decoded one at a time with PyAV (RGB, 8 bit)."""

    def __init__(self, path: Path) -> None:
        self.path, self.kind = Path(path), "rgb"
        try:
            with av.open(str(self.path)) as container:
                if not container.streams.video:
                    raise StbnError(f"{self.path}: no video stream")
                stream = container.streams.video[0]
                self.size = (stream.codec_context.height, stream.codec_context.width)
                self.fps = float(stream.average_rate) if stream.average_rate else None
                self._count = stream.frames or sum(1 for p in container.demux(stream) if p.size)
        except (av.FFmpegError, OSError, UnicodeDecodeError) as exc:
            raise StbnError(f"{self.path}: not a readable video ({exc})") from None
        if self._count == 0 or 0 in self.size:
            raise StbnError(f"{self.path}: video has no frames")

    def __len__(self) -> int:
        return self._count

    def __iter__(self) -> Iterator[np.ndarray]:
        for frame in self.iter_rgb24():
            yield frame.astype(np.float32) / 255.0

    def iter_rgb24(self) -> Iterator[np.ndarray]:
        """The decoded frames as uint8 ``(H, W, 3)`` RGB, exactly as FFmpeg converts them."""
        decoded = 0
        try:
            with av.open(str(self.path)) as container:
                for frame in container.decode(video=0):
                    decoded += 1
                    yield frame.to_ndarray(format="rgb24")
        except (av.FFmpegError, OSError) as exc:
            raise StbnError(
                f"{self.path}: corrupt or truncated video, decoding failed after {decoded} of {self._count} "
                f"frames ({exc})"
            ) from None
        if decoded < self._count:
            raise StbnError(f"{self.path}: truncated video: decoded {decoded} of {self._count} frames")


class FolderSource(FrameSource):
    """Frames stored one per file, read one at a time by ``reader``; every frame must have the same size."""

    def __init__(self, path: Path, files: list[Path], reader: Callable[[Path], np.ndarray], kind: str) -> None:
        self.path, self.files, self.reader, self.kind, self.fps = Path(path), files, reader, kind, None
        self.size = tuple(reader(files[0]).shape[:2])

    def __len__(self) -> int:
        return len(self.files)

    def __iter__(self) -> Iterator[np.ndarray]:
        for f in self.files:
            frame = self.reader(f)
            if tuple(frame.shape[:2]) != self.size:
                h, w = frame.shape[:2]
                raise StbnError(f"{f}: frame is {w}x{h} but {self.files[0].name} is {self.size[1]}x{self.size[0]}")
            yield frame


def _bayer_reader(pattern: str) -> Callable[[Path], np.ndarray]:
    def read(path: Path) -> np.ndarray:
        return raw.normalise_raw(raw.pack_bayer(raw.read_bayer_tiff(path), pattern))

    return read


def _read_dng_packed(path: Path) -> np.ndarray:
    return read_dng(path).packed()


def open_frames(path: Path, bayer: str | None = None) -> FrameSource:
    """Open a video file, a frame folder (or one image), or a DNG folder as a streaming :class:`FrameSource`.

    Single-channel 16-bit TIFF frames are raw mosaics when ``bayer`` names their CFA pattern, or when
    they are named like CRVD files (then GBRG, black 240, white 4095); otherwise frames are RGB.
    """
    path = Path(path)
    if not path.exists():
        raise StbnError(f"{path}: no such file or folder")
    if path.is_file() and path.suffix.lower() in VIDEO_SUFFIXES:
        return VideoSource(path)
    if path.is_file():
        if path.suffix.lower() not in (*IMAGE_SUFFIXES, DNG_SUFFIX):
            raise StbnError(f"{path}: unsupported file type (video: {', '.join(VIDEO_SUFFIXES)}; frames: a folder)")
        files = [path]
    else:
        files = frame_files(path)
    if not files:
        raise StbnError(f"{path}: no frames (expected {', '.join((*IMAGE_SUFFIXES, DNG_SUFFIX))} files)")
    dngs = [f for f in files if f.suffix.lower() == DNG_SUFFIX]
    if dngs and len(dngs) != len(files):
        raise StbnError(f"{path}: mixes DNG and image frames ({len(dngs)} DNG, {len(files) - len(dngs)} other)")
    if dngs:
        return FolderSource(path, files, _read_dng_packed, "raw")
    if bayer is None and _CRVD_NAME.fullmatch(files[0].name):
        bayer = raw.CRVD_PATTERN
    if bayer is not None:
        return FolderSource(path, files, _bayer_reader(bayer), "raw")
    return FolderSource(path, files, read_image, "rgb")


def _quantise(frame: np.ndarray, bit_depth: int) -> np.ndarray:
    dtype = np.uint8 if bit_depth == 8 else np.uint16
    if frame.dtype == dtype:
        return frame
    if frame.dtype.kind in "ui":
        raise StbnError(f"cannot write {frame.dtype} samples as {bit_depth}-bit frames; pass floats in [0, 1]")
    return np.round(np.clip(frame, 0.0, 1.0) * np.iinfo(dtype).max).astype(dtype)


def _write_folder(frames: Iterable[np.ndarray], folder: Path, bit_depth: int) -> int:
    count, size = 0, None
    with atomic_output(folder, directory=True) as tmp:
        for count, frame in enumerate(frames, start=1):
            frame = np.asarray(frame)
            size = size or frame.shape
            if frame.shape != size:
                raise StbnError(f"{folder}: frame {count} has shape {frame.shape}, the first has {size}")
            if frame.ndim == 3 and frame.shape[2] == 4:
                tifffile.imwrite(tmp / f"{count - 1:05d}.tiff", raw.denormalise_raw(raw.unpack_to_gbrg(frame)))
                continue
            img = _quantise(frame, bit_depth)
            img = cv2.cvtColor(img, cv2.COLOR_RGB2BGR) if img.ndim == 3 and img.shape[2] == 3 else img
            ok, buf = cv2.imencode(".png", img)
            if not ok:
                raise StbnError(f"{folder}: could not encode frame {count} of shape {frame.shape}")
            buf.tofile(tmp / f"{count - 1:05d}.png")
        if count == 0:
            raise StbnError(f"{folder}: no frames to write")
    return count


def _write_video(frames: Iterable[np.ndarray], target: Path, fps: float) -> int:
    count = 0
    with atomic_output(target) as tmp, av.open(str(tmp), mode="w") as container:
        stream = None
        for count, frame in enumerate(frames, start=1):
            img = _quantise(np.asarray(frame), 8)
            if img.ndim != 3 or img.shape[2] != 3:
                raise StbnError(f"{target}: video frames must be RGB (H, W, 3), got {img.shape}")
            if stream is None:
                h, w = img.shape[:2]
                stream = container.add_stream("libx264", rate=Fraction(fps).limit_denominator(1001))
                stream.width, stream.height = w, h
                stream.pix_fmt = "yuv444p" if h % 2 or w % 2 else "yuv420p"
                stream.options = {"crf": "17"}
            elif img.shape[:2] != (stream.height, stream.width):
                raise StbnError(
                    f"{target}: frame {count} is {img.shape[1]}x{img.shape[0]}, the first is "
                    f"{stream.width}x{stream.height}"
                )
            container.mux(stream.encode(av.VideoFrame.from_ndarray(img, format="rgb24")))
        if stream is None:
            raise StbnError(f"{target}: no frames to write")
        container.mux(stream.encode())
    return count


def write_frames(frames: Iterable[np.ndarray], path: Path, fps: float = 25.0, bit_depth: int = 8) -> int:
    """Write frames to a video (by extension: .mp4/.mkv/.mov, H.264) or a folder of ``%05d.png``; atomic.

    Frames are float RGB ``(H, W, 3)`` in [0, 1] (or uint8/uint16 matching ``bit_depth``), grey ``(H, W)``,
    or packed raw ``(H/2, W/2, 4)`` (written as CRVD-style 16-bit GBRG ``%05d.tiff``). ``bit_depth``
    (8 or 16) applies to PNG folders. Returns the number of frames written.
    """
    path = Path(path)
    if bit_depth not in (8, 16):
        raise StbnError(f"{path}: bit_depth must be 8 or 16, got {bit_depth}")
    if path.suffix.lower() in VIDEO_SUFFIXES:
        if path.suffix.lower() not in WRITABLE_VIDEO_SUFFIXES:
            raise StbnError(f"{path}: can write {', '.join(WRITABLE_VIDEO_SUFFIXES)} videos or a frame folder")
        return _write_video(frames, path, fps)
    return _write_folder(frames, path, bit_depth)


def sequence_root(root: Path) -> Path:
    """The folder holding one sub-folder per sequence: ``root`` itself (Set8-style) or DAVIS's ``JPEGImages/480p``."""
    root = Path(root)
    if not root.is_dir():
        raise StbnError(f"{root}: no such folder")
    for sub in ("JPEGImages/480p", "DAVIS/JPEGImages/480p"):
        if (root / sub).is_dir():
            return root / sub
    return root


def list_sequences(root: Path) -> list[Path]:
    """Sequence folders of a Set8- or DAVIS-style root, sorted by name (the paper's ``sorted(glob(dir/*))``)."""
    base = sequence_root(root)
    seqs = sorted(p for p in base.iterdir() if p.is_dir() and not p.name.startswith("."))
    if not seqs:
        raise StbnError(f"{base}: no sequence folders")
    return seqs


def read_sequence(folder: Path, max_frames: int | None = None) -> np.ndarray:
    """Load a frame folder like the paper's test loader: frames in natural order, RGB, float32 in [0, 1].

    Returns ``(T, H, W, 3)`` with ``T = min(len, max_frames)``.
    """
    folder = Path(folder)
    if not folder.is_dir():
        raise StbnError(f"{folder}: no such folder")
    files = frame_files(folder, IMAGE_SUFFIXES)[:max_frames]
    if not files:
        raise StbnError(f"{folder}: no frames (expected {', '.join(IMAGE_SUFFIXES)} files)")
    return np.stack(list(FolderSource(folder, files, read_image, "rgb")))
