"""Training runs: exact resume after SIGKILL, NaN guard, resume safety, validation column."""

import csv
import os
import signal
import subprocess
import sys
import time

import numpy as np
import pytest
import torch

from stbn.checkpoint import read_checkpoint
from stbn.config import load_config
from stbn.data.io import read_sequence, write_frames
from stbn.errors import StbnError
from stbn.evaluation.protocol import EvalSequence
from stbn.training.run import load_training_sequences, train


@pytest.fixture(autouse=True)
def _restore_threads():
    """In-process runs set torch's thread count (train.threads=1: fastest on a shared 2-core box); restore it."""
    n = torch.get_num_threads()
    yield
    torch.set_num_threads(n)


def _cli(*args):
    return [sys.executable, "-m", "stbn.cli", *map(str, args)]


@pytest.fixture(scope="module")
def train_root(tmp_path_factory):
    root = tmp_path_factory.mktemp("train")
    rng = np.random.default_rng(0)
    base = rng.random((1, 40, 40, 3)).astype(np.float32)
    for name in ("a", "b"):
        frames = np.clip(base + 0.05 * rng.standard_normal((8, 40, 40, 3)), 0, 1)
        write_frames(frames, root / name)
    return root


def test_resume_after_sigkill_is_bit_identical(tmp_path, train_root):
    sets = ["--set", f"data.train_root={train_root}", "--set", "train.iterations=16"]
    sets += ["--set", "train.checkpoint_every=4"]
    common = ["--config", "tiny", "--device", "cpu", *sets]
    full, killed = tmp_path / "full", tmp_path / "killed"
    subprocess.run(_cli("train", "--out", full, *common), check=True, capture_output=True)

    proc = subprocess.Popen(_cli("train", "--out", killed, *common), stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 120
    while not (killed / "last.pt").exists() and proc.poll() is None and time.monotonic() < deadline:
        time.sleep(0.01)
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    step = read_checkpoint(killed / "last.pt")["step"]
    assert 0 < step < 16 and not (killed / "model.pt").exists(), "the run was not killed mid-way"

    subprocess.run(_cli("train", "--out", killed, "--resume", *common), check=True, capture_output=True)
    a, b = read_checkpoint(full / "model.pt"), read_checkpoint(killed / "model.pt")
    assert a["step"] == b["step"] == 16
    assert a["state_dict"].keys() == b["state_dict"].keys()
    for key, value in a["state_dict"].items():
        assert torch.equal(value, b["state_dict"][key]), key
    la, lb = (full / "log.csv").read_text(), (killed / "log.csv").read_text()
    assert la == lb and len(la.splitlines()) == 17
    last_a, last_b = read_checkpoint(full / "last.pt"), read_checkpoint(killed / "last.pt")
    for sa, sb in zip(last_a["optimizer"]["state"].values(), last_b["optimizer"]["state"].values()):
        assert torch.equal(sa["exp_avg_sq"], sb["exp_avg_sq"])
    assert last_a["config"] == last_b["config"] and "git" in last_a["provenance"]


def _cfg(*overrides):
    base = ["train.threads=1", "train.iterations=4", "train.checkpoint_every=2"]
    return load_config("tiny", [*base, *overrides])


def test_nan_loss_stops_with_a_clear_message(tmp_path):
    seqs = [np.full((6, 32, 32, 3), np.nan, np.float32)]
    with pytest.raises(StbnError, match=r"step 0: the loss is nan \(not finite\)"):
        train(_cfg(), tmp_path, sequences=seqs, validation=[], progress=False)


def test_resume_safety_and_validation_log(tmp_path):
    rng = np.random.default_rng(1)
    clean = rng.random((6, 32, 32, 3)).astype(np.float32)
    val = [EvalSequence("v", clean, clean + rng.normal(0, 30 / 255, clean.shape).astype(np.float32), 30 / 255)]
    cfg = _cfg("train.val_every=2")
    train(cfg, tmp_path, sequences=[clean], validation=val, progress=False)
    with (tmp_path / "log.csv").open() as f:
        rows = list(csv.DictReader(f))
    assert [r["step"] for r in rows] == ["1", "2", "3", "4"]
    assert rows[0]["val_psnr"] == "" and float(rows[1]["val_psnr"]) > 0 and rows[3]["val_psnr"]
    assert float(rows[2]["lr"]) == cfg.train.lr  # tiny milestones (10, 15) not reached
    with pytest.raises(StbnError, match="pass --resume"):
        train(cfg, tmp_path, sequences=[clean], validation=[], progress=False)
    with pytest.raises(StbnError, match=r"config differs in train\.lr"):
        train(_cfg("train.lr=1e-2"), tmp_path, sequences=[clean], resume=True, progress=False)
    # a finished run resumed with more iterations continues from its last step
    train(_cfg("train.iterations=6"), tmp_path, sequences=[clean], validation=[], resume=True, progress=False)
    assert read_checkpoint(tmp_path / "model.pt")["step"] == 6


UDVD = ("method=udvd", "udvd.width=4", "udvd.triplet_features=4")
"""A tiny UDVD (the second method) on the same trainer."""


def test_udvd_trains_and_resumes_exactly_in_the_same_run(tmp_path):
    """The trainer and the resumable run are method-agnostic: a UDVD run stopped after its checkpoint
    and resumed ends with the weights of the run that never stopped; both record their step time."""
    clean = np.random.default_rng(2).random((6, 32, 32, 3)).astype(np.float32)
    full, parts = tmp_path / "full", tmp_path / "parts"
    train(_cfg(*UDVD), full, sequences=[clean], validation=[], progress=False)
    train(_cfg(*UDVD, "train.iterations=2"), parts, sequences=[clean], validation=[], progress=False)
    first = read_checkpoint(parts / "last.pt")["step_seconds"]
    train(_cfg(*UDVD), parts, sequences=[clean], validation=[], resume=True, progress=False)
    a, b = read_checkpoint(full / "model.pt"), read_checkpoint(parts / "model.pt")
    assert a["config"]["method"] == "udvd" and a["step"] == b["step"] == 4
    for key, value in a["state_dict"].items():
        assert torch.equal(value, b["state_dict"][key]), key
    assert (full / "log.csv").read_text() == (parts / "log.csv").read_text()
    assert 0 < first < b["step_seconds"] and a["step_seconds"] > 0


def test_fit_minutes_stretches_the_schedule_over_the_budget():
    from stbn.checkpoint import build_model
    from stbn.training.fit import fit

    cfg = _cfg("train.iterations=20")  # tiny milestones 10, 15 of 20 -> at 50% and 75% of the budget
    ticks = iter(np.arange(0.0, 1000.0, 6.0))  # each clock read advances 6 s: 8 steps end within one minute
    frames = np.random.default_rng(0).random((5, 24, 24, 3)).astype(np.float32)
    history = fit(build_model(cfg), cfg, frames, 30.0, minutes=1.0, progress=False, clock=lambda: next(ticks))
    lrs = [lr for _, lr in history]
    assert len(history) == 8
    assert lrs[0] == cfg.train.lr and lrs[-1] == pytest.approx(cfg.train.lr * 0.25)
    assert lrs == sorted(lrs, reverse=True)
    steps = fit(build_model(cfg), cfg, frames, 30.0, steps=4, progress=False)
    assert [lr for _, lr in steps] == [1e-3, 1e-3, 5e-4, 2.5e-4]


def test_data_sequences_picks_training_folders_by_name(train_root):
    root = f"data.train_root={train_root}"
    seqs = load_training_sequences(load_config("tiny", [root, "data.sequences=[b]"]))
    assert len(seqs) == 1 and np.array_equal(seqs[0], read_sequence(train_root / "b"))
    assert len(load_training_sequences(load_config("tiny", [root]))) == 2
    with pytest.raises(StbnError, match=r"no sequence c \(data\.sequences\)$"):
        load_training_sequences(load_config("tiny", [root, "data.sequences=[b, c]"]))
