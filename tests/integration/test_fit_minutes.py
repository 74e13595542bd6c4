"""`stbn denoise --fit-minutes` with the cpu-fit preset keeps to its wall-time budget on a tiny input, and
reserves time for the final pass by timing that very path (the preset's infer and speed sections, one window
of the shift ensemble) and running the shift ensemble the budget allows."""

import inspect
import time

import numpy as np
import torch

import stbn.engine
import stbn.training.budget
import stbn.training.fit
from stbn.cli import main
from stbn.config import preset
from stbn.data.io import read_sequence, write_frames


def test_process_start_is_in_the_past():
    assert 0.0 <= time.monotonic() - stbn.training.budget.process_start() < 24 * 3600


def _recording(fn, calls):
    """``fn``, appending the ``(infer, speed)`` arguments of every call to ``calls``."""
    signature = inspect.signature(fn)

    def record(*args, **kwargs):
        bound = signature.bind(*args, **kwargs).arguments
        calls.append((bound.get("infer"), bound.get("speed")))
        return fn(*args, **kwargs)

    return record


def test_fit_minutes_bounds_the_whole_command(tmp_path, monkeypatch):
    rng = np.random.default_rng(0)
    clean = np.repeat(np.linspace(0.2, 0.8, 40, dtype=np.float32)[None, None, :, None], 32, axis=1)
    frames = np.stack([np.roll(clean, t, axis=2)[0] for t in range(5)]) + rng.normal(0, 30 / 255, (5, 32, 40, 3))
    write_frames(frames.astype(np.float32), tmp_path / "in", bit_depth=16)
    steps = []
    real_fit = stbn.training.fit.fit
    monkeypatch.setattr(stbn.training.fit, "fit", lambda *a, **k: steps.append(len(real_fit(*a, **k))) or [])
    timed, final = [], []  # (infer, speed) of the budget's timed passes and of the final pass
    monkeypatch.setattr(stbn.training.budget, "denoise", _recording(stbn.training.budget.denoise, timed))
    monkeypatch.setattr(stbn.engine, "denoise", _recording(stbn.engine.denoise, final))
    chosen = []
    real_budget = stbn.training.budget.budget_ensemble
    monkeypatch.setattr(stbn.training.budget, "budget_ensemble",
                        lambda *a: chosen.append(real_budget(*a)) or chosen[-1])
    torch.optim.Adam([torch.zeros(1, requires_grad=True)])  # its lazy imports take seconds on a busy machine
    threads = torch.get_num_threads()
    torch.set_num_threads(1)  # the final pass too: one thread is fastest on a shared 2-core box
    start = time.monotonic()
    monkeypatch.setattr(stbn.training.budget, "process_start", lambda: start)  # in-process: the budget starts here
    code = main(["denoise", str(tmp_path / "in"), "-o", str(tmp_path / "out"), "--sigma", "30", "--fit-minutes",
                 "0.3", "--preset", "cpu-fit", "--set", "train.threads=1", "--device", "cpu"])
    elapsed = time.monotonic() - start
    torch.set_num_threads(threads)
    assert code == 0 and steps and steps[0] >= 1
    assert elapsed <= 0.3 * 60 + 0.5, f"the 18 s budget took {elapsed:.2f} s"
    assert read_sequence(tmp_path / "out").shape == (5, 32, 40, 3)
    cfg = preset("cpu-fit")
    assert not cfg.infer.streaming and cfg.infer.shift_ensemble > 1 and cfg.speed.channels_last
    one = cfg.infer.model_copy(update={"shift_ensemble": 1})
    assert len(timed) == 2 and len(final) == 1  # the timed passes run the final pass's path, one window
    assert all(pair == (one, cfg.speed) for pair in timed)
    assert len(chosen) == 1 and final[0] == (chosen[0][0], cfg.speed)
