"""End to end on the embedded real video: train a tiny model of each method (STBN, UDVD), evaluate it,
denoise footage with it."""

import weakref
from collections.abc import Iterator
from fractions import Fraction
from pathlib import Path

import av
import numpy as np
import pytest
import torch

import stbn.data.io
from stbn.cli import main
from stbn.data.io import FrameSource, open_frames, read_sequence, write_frames
from stbn.evaluation.metrics import psnr

FAST = ["--set", "train.threads=1", "--device", "cpu"]


@pytest.fixture(autouse=True)
def _restore_threads():
    """In-process runs set torch's thread count (train.threads=1: fastest on a shared 2-core box); restore it."""
    n = torch.get_num_threads()
    yield
    torch.set_num_threads(n)


def _run(capsys, *args):
    """Run ``stbn`` in-process: ``(exit code, stderr)``."""
    code = main([str(a) for a in args])
    return code, capsys.readouterr().err


def _lossless_mp4(frames: np.ndarray, path: Path) -> None:
    """8-bit RGB frames into an mp4 that decodes bit-exactly (libx264rgb, qp 0), so the noise stays white."""
    with av.open(str(path), "w") as container:
        stream = container.add_stream("libx264rgb", rate=Fraction(25))
        stream.width, stream.height, stream.pix_fmt = frames.shape[2], frames.shape[1], "rgb24"
        stream.options = {"qp": "0"}
        for f in frames:
            container.mux(stream.encode(av.VideoFrame.from_ndarray(np.round(f * 255).astype(np.uint8), format="rgb24")))
        container.mux(stream.encode())


METHODS = {"stbn": [], "udvd": ["--set", "method=udvd", "--set", "udvd.width=4", "--set", "udvd.triplet_features=4"]}
"""Each method's ``--set`` on top of the tiny preset: every test that takes ``model`` runs for both."""


@pytest.fixture(scope="module", params=list(METHODS))
def model(request, embedded_data, tmp_path_factory):
    out = tmp_path_factory.mktemp("run")
    threads = torch.get_num_threads()
    code = main([
        "train", "--config", "tiny", "--out", str(out),
        "--set", f"data.train_root={embedded_data['embedded-srgb-train']}", "--set", "data.max_frames=8",
        "--set", "train.iterations=4", "--set", "train.checkpoint_every=2", *METHODS[request.param], *FAST,
    ])
    torch.set_num_threads(threads)
    assert code == 0
    return out / "model.pt"


def test_train_writes_the_run(model):
    from stbn.checkpoint import load_model
    from stbn.report.complexity import checkpoint_costs

    run = model.parent
    assert {"model.pt", "last.pt", "config.json", "log.csv"} <= {p.name for p in run.iterdir()}
    assert len((run / "log.csv").read_text().splitlines()) == 5
    net, cfg, _ = load_model(model)
    costs = checkpoint_costs(model, (32, 32))  # the variants table's columns
    assert costs["params"] == net.num_parameters() and costs["GMAC/frame"] > 0 and costs["s/step"] > 0
    assert type(net).__name__.lower() == cfg.method


def test_evaluate_and_denoise_give_the_same_output(model, embedded_data, tmp_path, capsys):
    clean_root, noisy_root = tmp_path / "clean", tmp_path / "noisy"
    clean_root.mkdir()
    (clean_root / "carphone").symlink_to(Path(embedded_data["embedded-srgb-test"]) / "carphone")
    clean = read_sequence(clean_root / "carphone", 6)
    noisy = np.clip(clean + np.random.default_rng(0).normal(0, 30 / 255, clean.shape), 0, 1)
    write_frames(noisy, noisy_root / "carphone")

    code, err = _run(capsys, "evaluate", "--checkpoint", model, "--data", clean_root, "--noisy", noisy_root,
                     "--sigma", 30, "--max-frames", 6, "--out", tmp_path / "ev", "--save-output", "--device", "cpu")
    assert code == 0, err
    code, err = _run(capsys, "denoise", noisy_root / "carphone", "-o", tmp_path / "dn", "--checkpoint", model,
                     "--sigma", 30, "--bit-depth", 16, "--device", "cpu")
    assert code == 0, err
    from_eval = read_sequence(tmp_path / "ev" / "denoised" / "carphone")
    from_denoise = read_sequence(tmp_path / "dn")
    assert from_eval.shape == (6, 144, 176, 3)
    np.testing.assert_array_equal(from_eval, from_denoise)
    assert np.abs(from_denoise - read_sequence(noisy_root / "carphone")).mean() > 1e-3  # it did denoise


def test_evaluate_protocol_files(model, embedded_data, tmp_path, capsys):
    import csv
    import json

    code, err = _run(capsys, "evaluate", "--checkpoint", model, "--data", embedded_data["embedded-srgb-test"],
                     "--sigma", 30, "--max-frames", 3, "--samples", 1, "--out", tmp_path, "--device", "cpu")
    assert code == 0, err
    with (tmp_path / "frames.csv").open() as f:
        rows = list(csv.DictReader(f))
    summary = json.loads((tmp_path / "summary.json").read_text())
    seqs = sorted({r["sequence"] for r in rows})
    assert len(rows) == 3 * len(seqs) and summary["frames"] == len(rows)
    per_seq = [np.mean([float(r["psnr"]) for r in rows if r["sequence"] == s]) for s in seqs]
    assert summary["psnr"] == pytest.approx(np.mean(per_seq))
    assert (tmp_path / "samples" / seqs[0] / "00000.png").is_file()


def test_denoise_mp4_with_fitting_beats_the_noisy_input(embedded_data, tmp_path, capsys):
    clean = read_sequence(Path(embedded_data["embedded-srgb-test"]) / "carphone", 8)
    noisy = np.clip(clean + np.random.default_rng(1).normal(0, 30 / 255, clean.shape), 0, 1)
    _lossless_mp4(noisy, tmp_path / "noisy.mp4")
    code, err = _run(capsys, "denoise", tmp_path / "noisy.mp4", "-o", tmp_path / "out.mp4", "--sigma", 30,
                     "--fit-steps", 20, "--preset", "tiny", "--set", "train.lr=3e-3", *FAST)
    assert code == 0, err
    given = np.stack(list(open_frames(tmp_path / "noisy.mp4")))
    out = np.stack(list(open_frames(tmp_path / "out.mp4")))
    assert out.shape == given.shape
    assert psnr(clean, out) > psnr(clean, given) + 0.3


def test_denoise_fits_a_udvd_and_saves_it(embedded_data, tmp_path, capsys):
    """Fitting a new UDVD on the input (``--fit-steps``), then denoising again with the saved model, gives
    the same frames."""
    source = Path(embedded_data["embedded-srgb-test"]) / "carphone"
    clean = read_sequence(source, 4)
    write_frames(np.clip(clean + np.random.default_rng(3).normal(0, 30 / 255, clean.shape), 0, 1), tmp_path / "in")
    code, err = _run(capsys, "denoise", tmp_path / "in", "-o", tmp_path / "fitted", "--sigma", 30, "--fit-steps", 3,
                     "--preset", "tiny", *METHODS["udvd"], "--save-model", tmp_path / "udvd.pt", "--bit-depth", 16,
                     *FAST)
    assert code == 0, err
    code, err = _run(capsys, "denoise", tmp_path / "in", "-o", tmp_path / "again", "--sigma", 30,
                     "--checkpoint", tmp_path / "udvd.pt", "--bit-depth", 16, "--device", "cpu")
    assert code == 0, err
    np.testing.assert_array_equal(read_sequence(tmp_path / "fitted"), read_sequence(tmp_path / "again"))


def test_errors_come_before_any_work(model, embedded_data, tmp_path, capsys):
    out = tmp_path / "never"
    cases = [
        (["train", "--config", "tiny", "--out", out, "--set", "train.lrr=1"], "train.lrr: unknown key"),
        (["train", "--config", "tiny", "--out", out, "--set", "data.crop=2"],
         "data.crop: Input should be greater"),
        (["train", "--config", "tiny", "--out", out], "data.train_root is not set"),
        (["evaluate", "--checkpoint", tmp_path / "missing.pt", "--data", embedded_data["embedded-srgb-test"],
          "--sigma", 30, "--out", out], "checkpoint not found"),
        (["evaluate", "--checkpoint", model, "--data", embedded_data["embedded-raw"], "--iso", 1600, "--out", out],
         "holds a srgb model, but the input is raw"),
        (["denoise", embedded_data["embedded-srgb-test"] / "carphone", "-o", out, "--checkpoint", tmp_path / "x.pt",
          "--sigma", 30], "checkpoint not found"),
        (["denoise", embedded_data["embedded-srgb-test"] / "carphone", "-o", out], "pass --fit-steps or --fit-minutes"),
        (["denoise", embedded_data["embedded-srgb-test"] / "carphone", "-o", out, "--checkpoint", model],
         "needs the noise level"),
    ]
    for args, message in cases:
        code, err = _run(capsys, *args)
        assert code == 2 and message in err and err.count("\n") == 1, (args, err)
    assert not out.exists()


def test_denoise_estimates_sigma(model, embedded_data, tmp_path, capsys):
    clean = read_sequence(Path(embedded_data["embedded-srgb-test"]) / "carphone", 3)
    write_frames(np.clip(clean + np.random.default_rng(2).normal(0, 25 / 255, clean.shape), 0, 1), tmp_path / "in")
    code, err = _run(capsys, "denoise", tmp_path / "in", "-o", tmp_path / "out", "--checkpoint", model,
                     "--sigma", "auto", "--device", "cpu")
    assert code == 0, err
    estimate = float(err.split("estimated noise std: ")[1].split()[0])
    assert 21 < estimate < 29  # 25 before 8-bit rounding and clipping
    assert len(read_sequence(tmp_path / "out")) == 3


class _HeldFrames(FrameSource):
    """A reader that counts how many of the frames it handed out are still alive whenever it hands one out."""

    def __init__(self, source: FrameSource) -> None:
        self.source, self.path, self.kind, self.size, self.fps = source, source.path, source.kind, source.size, None
        self.most_held = 0

    def __len__(self) -> int:
        return len(self.source)

    def __iter__(self) -> Iterator[np.ndarray]:
        refs = []
        for frame in self.source:
            refs.append(weakref.ref(frame))
            self.most_held = max(self.most_held, sum(r() is not None for r in refs))
            yield frame


def test_denoise_streams_without_holding_the_clip(model, embedded_data, tmp_path, capsys, monkeypatch):
    clean = read_sequence(Path(embedded_data["embedded-srgb-test"]) / "carphone", 10)
    write_frames(np.clip(clean + np.random.default_rng(3).normal(0, 30 / 255, clean.shape), 0, 1), tmp_path / "in")
    held = _HeldFrames(open_frames(tmp_path / "in"))
    monkeypatch.setattr(stbn.data.io, "open_frames", lambda path: held)
    code, err = _run(capsys, "denoise", tmp_path / "in", "-o", tmp_path / "out", "--checkpoint", model,
                     "--sigma", 30, "--device", "cpu")
    assert code == 0, err
    assert held.most_held <= 3, f"{held.most_held} of 10 frames were held at once"
    assert "denoise: 100%" in err and len(read_sequence(tmp_path / "out")) == 10


def test_failed_evaluate_leaves_no_output(model, embedded_data, tmp_path, capsys):
    data = tmp_path / "data"
    data.mkdir()
    (data / "a").symlink_to(Path(embedded_data["embedded-srgb-test"]) / "carphone")
    (data / "b").mkdir()
    (data / "b" / "00000.png").write_bytes(b"not a png")
    out = tmp_path / "ev"
    code, err = _run(capsys, "evaluate", "--checkpoint", model, "--data", data, "--sigma", 30, "--max-frames", 3,
                     "--samples", 2, "--save-output", "--out", out, "--device", "cpu")
    assert code == 2 and "00000.png: unreadable image" in err.splitlines()[-1], err
    assert sorted(p.name for p in tmp_path.iterdir()) == ["data"]  # no OUT, no temporary sibling
    out.mkdir()
    (out / "notes.txt").write_text("mine")
    code, err = _run(capsys, "evaluate", "--checkpoint", model, "--data", data, "--sigma", 30, "--out", out)
    assert code == 2 and "notes.txt, not results of a previous run" in err and err.count("\n") == 1, err
    assert [p.name for p in out.iterdir()] == ["notes.txt"]
