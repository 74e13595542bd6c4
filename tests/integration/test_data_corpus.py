"""The video corpus: pinned sources, pinned decoding, deterministic preparation, the accessor, clear errors."""

from __future__ import annotations

import dataclasses
import gzip
import hashlib
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from stbn.cli import main
from stbn.data import catalog, corpus, embedded, io
from stbn.errors import StbnError

REPO = Path(__file__).resolve().parents[2]
FETCH = REPO / "scripts" / "fetch_corpus.py"
PENS = next(c for c in corpus.CLIPS if c.name == "pens")  # the shortest decode: 40 frames of 176x144


@pytest.mark.parametrize("key", sorted(corpus.SOURCES))
def test_sources_are_the_pinned_files_with_their_licence(key):
    path = corpus.locate(key)  # verifies the sha256
    assert hashlib.sha256(path.read_bytes()).hexdigest() == corpus.SOURCES[key].sha256
    assert (path.parent / "copyright").is_file()  # the package's licence travels with the file


def test_write_clip_is_deterministic_and_is_the_cropped_source(tmp_path):
    path = corpus.locate(PENS.source)
    corpus.write_clip(PENS, path, tmp_path / "a")
    corpus.write_clip(PENS, path, tmp_path / "b")
    files = sorted((tmp_path / "a").iterdir())
    assert [f.name for f in files] == [f"{i:05d}.png" for i in range(PENS.stop - PENS.start)]
    assert all(f.read_bytes() == (tmp_path / "b" / f.name).read_bytes() for f in files)
    source = list(io.VideoSource(path).iter_rgb24())
    clip = np.round(io.read_sequence(tmp_path / "a") * 255).astype(np.uint8)
    assert clip.shape == (30, 144, 176, 3)
    np.testing.assert_array_equal(clip[0], source[PENS.start])
    np.testing.assert_array_equal(clip[-1], source[PENS.stop - 1])


def test_crop_and_downscale():
    clip = corpus.CorpusClip("x", "src", 0, 1, 2, (1, 2, 3, 4), "motion", "", "")
    frame = np.arange(10 * 16 * 3, dtype=np.uint8).reshape(10, 16, 3)
    out = corpus.clip_frame(clip, frame)
    assert out.shape == (3, 4, 3) and out.flags.c_contiguous
    np.testing.assert_array_equal(out, embedded.downscale(frame, 2)[1:4, 2:6])


def test_downscale_is_the_rounded_box_mean():
    frame = np.random.default_rng(0).integers(0, 256, (9, 13, 3), dtype=np.uint8)
    for factor in (1, 2, 4):
        h, w = 9 // factor, 13 // factor
        boxes = frame[: h * factor, : w * factor].astype(np.float64).reshape(h, factor, w, factor, 3)
        expected = np.floor(boxes.mean(axis=(1, 3)) + 0.5).astype(np.uint8)
        np.testing.assert_array_equal(embedded.downscale(frame, factor), expected)


def test_decoded_frames_mismatch_is_an_error(tmp_path):
    bad = dataclasses.replace(PENS, frames_sha256="0" * 64)
    with pytest.raises(StbnError, match=r"pens.mp4: checksum mismatch of the decoded frames \(sha256 6c9a032a"):
        corpus.write_clip(bad, corpus.locate(PENS.source), tmp_path / "pens")


def test_corpus_layout_roles_and_validation(corpus_data, tmp_path):
    train = [p.name for p in io.list_sequences(corpus_data[corpus.CORPUS_TRAIN])]
    held = [p.name for p in io.list_sequences(corpus_data[corpus.CORPUS_HELDOUT])]
    assert held == sorted(c.name for c in corpus.HELDOUT_CLIPS)
    assert train == sorted([c.name for c in corpus.TRAIN_CORPUS_CLIPS] + [c.name for c in embedded.TRAIN_CLIPS])
    for name, root in corpus_data.items():
        assert catalog.validate(name, root) == []
        manifest = json.loads((root / embedded.MANIFEST).read_text())
        assert manifest["recipe"] == corpus.RECIPE and set(manifest["sources"]) == set(corpus.SOURCES)
    # the bikes shots are the very frames of embedded-srgb-train, stored losslessly
    road = io.read_sequence(corpus_data[corpus.CORPUS_TRAIN] / "bikes-road")
    assert road.shape == (30, 136, 320, 3)
    copy = tmp_path / "heldout"
    shutil.copytree(corpus_data[corpus.CORPUS_HELDOUT], copy)
    (copy / "lego" / "00003.png").write_bytes((copy / "lego" / "00004.png").read_bytes())
    with pytest.raises(StbnError, match=r"checksum mismatch: lego/00003.png"):
        catalog.validate(corpus.CORPUS_HELDOUT, copy)


def test_prepare_is_idempotent_through_the_cli(corpus_data, capsys):
    root = corpus_data[corpus.CORPUS_TRAIN].parent
    stamp = (corpus_data[corpus.CORPUS_TRAIN] / embedded.MANIFEST).stat().st_mtime_ns
    assert main(["prepare", "corpus", "--out", str(root)]) == 0
    assert f"{corpus.CORPUS_HELDOUT}\t{corpus_data[corpus.CORPUS_HELDOUT]}" in capsys.readouterr().out
    assert (corpus_data[corpus.CORPUS_TRAIN] / embedded.MANIFEST).stat().st_mtime_ns == stamp


def test_clean_clips_gives_each_split(corpus_data):
    root = corpus_data[corpus.CORPUS_TRAIN].parent
    held = corpus.clean_clips("heldout", root, max_frames=3)
    assert [name for name, _ in held] == ["coin-pen", "diver", "lego", "pens"]
    assert [frames.shape for _, frames in held] == [
        (3, 160, 280, 3),
        (3, 240, 320, 3),
        (3, 256, 256, 3),
        (3, 144, 176, 3),
    ]
    assert all(frames.dtype == np.float32 and 0 <= frames.min() and frames.max() <= 1 for _, frames in held)
    tune = dict(corpus.clean_clips("tune", root, max_frames=2))
    assert set(tune) == {n for n, role in corpus.ROLES.items() if role != corpus.HELDOUT}
    assert not set(tune) & {name for name, _ in held}
    with pytest.raises(StbnError, match="unknown corpus split 'test'"):
        corpus.clean_clips("test", root)


def test_missing_source_is_one_line_and_leaves_nothing(tmp_path, monkeypatch, capsys):
    monkeypatch.setenv(corpus.DIR_ENV, str(tmp_path / "empty"))
    out = tmp_path / "datasets"
    assert main(["prepare", "corpus", "--out", str(out)]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1
    assert "missing corpus source cockatoo.mp4 (Debian package python3-imageio 2.4.1-5)" in err
    assert "bash scripts/setup.sh" in err
    assert not out.exists() or list(out.iterdir()) == []


def _fake_apt(tmp_path: Path, script: str) -> dict[str, str]:
    """An environment whose `apt-get` is ``script`` (bash) and whose corpus folder is empty."""
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    (bin_dir / "apt-get").write_text("#!/bin/bash\n" + script)
    (bin_dir / "apt-get").chmod(0o755)
    return {**os.environ, "PATH": f"{bin_dir}{os.pathsep}{os.environ['PATH']}", corpus.DIR_ENV: str(tmp_path / "c")}


def test_fetch_failure_is_one_line(tmp_path):
    env = _fake_apt(tmp_path, "echo \"E: Can't select versions from package '$2'\" >&2; exit 100\n")
    run = _fetch(env)
    assert run.returncode == 1
    assert run.stderr.count("\n") == 1
    assert run.stderr.startswith("fetch_corpus: cannot fetch python3-imageio 2.4.1-5: apt-get download ")
    assert "E: Can't select versions from package" in run.stderr


def _build_deb(tmp_path: Path, name: str, members: dict[str, bytes]) -> None:
    """A fake ``debs/<name>.deb`` holding ``members`` (paths inside the package) and a copyright file."""
    tree = tmp_path / "trees" / name
    (tree / "DEBIAN").mkdir(parents=True)
    version = corpus.PACKAGES[name].version
    (tree / "DEBIAN" / "control").write_text(
        f"Package: {name}\nVersion: {version}\nArchitecture: all\nMaintainer: t <t@t>\nDescription: t\n"
    )
    for member, data in {**members, f"usr/share/doc/{name}/copyright": f"licence of {name}\n".encode()}.items():
        (tree / member).parent.mkdir(parents=True, exist_ok=True)
        (tree / member).write_bytes(data)
    (tmp_path / "debs").mkdir(exist_ok=True)
    deb = tmp_path / "debs" / f"{name}.deb"
    subprocess.run(["dpkg-deb", "-Znone", "--build", str(tree), str(deb)], check=True, capture_output=True)


def _fetch(env: dict[str, str]) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, str(FETCH)], check=False, env=env, capture_output=True, text=True)


def test_fetched_file_with_another_sha256_is_refused(tmp_path):
    _build_deb(tmp_path, "python3-imageio", {corpus.SOURCES["cockatoo"].member: b"not the cockatoo"})
    run = _fetch(_fake_apt(tmp_path, f'cp "{tmp_path}/debs/${{2%%=*}}.deb" "./${{2%%=*}}_1_all.deb"\n'))
    assert run.returncode == 1 and run.stderr.count("\n") == 1
    assert "cockatoo.mp4 in python3-imageio_1_all.deb: sha256 " in run.stderr
    assert f"expected {corpus.SOURCES['cockatoo'].sha256}" in run.stderr
    assert not (tmp_path / "c" / "python3-imageio").exists()


def test_fetch_extracts_checks_and_is_idempotent(tmp_path):
    """Fake packages built from the stored files: the script takes out each file and its copyright."""
    debs = tmp_path / "debs"
    for name in corpus.PACKAGES:
        members = {}
        for key, src in corpus.SOURCES.items():
            if src.package == name:
                data = corpus.locate(key).read_bytes()
                members[src.member] = gzip.compress(data) if src.member.endswith(".gz") else data
        _build_deb(tmp_path, name, members)
    # the archive lost docutils-doc's pinned version: its current one (here 9.9-1) serves the same file
    apt = f"""[[ $1 == download ]] || exit 0
pkg=${{2%%=*}}; version=${{2#*=}}
if [[ $2 != *=* ]]; then version=9.9-1
elif [[ $pkg == docutils-doc ]]; then echo "E: Version '$version' for 'docutils-doc' was not found" >&2; exit 100; fi
cp "{debs}/$pkg.deb" "./${{pkg}}_${{version}}_all.deb"
"""
    env = _fake_apt(tmp_path, apt)
    for status in ("fetched", "present"):
        run = _fetch(env)
        assert run.returncode == 0, run.stderr
        assert run.stdout.count(f": {status} (") == len(corpus.PACKAGES)
    stored_dir = Path(env[corpus.DIR_ENV])
    for src in corpus.SOURCES.values():
        stored = stored_dir / src.package / src.file
        assert hashlib.sha256(stored.read_bytes()).hexdigest() == src.sha256
        assert (stored.parent / "copyright").read_text() == f"licence of {src.package}\n"
        version = "9.9-1" if src.package == "docutils-doc" else corpus.PACKAGES[src.package].version
        assert (stored.parent / "VERSION").read_text() == version + "\n"
