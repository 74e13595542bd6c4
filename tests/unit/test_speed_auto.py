"""``speed: auto`` picks bf16 (and channels-last) only where the hardware runs bf16 natively."""

from __future__ import annotations

import warnings

import pytest
import torch

from stbn import hardware
from stbn.config import SpeedConfig
from stbn.engine import speed

CPU = torch.device("cpu")


@pytest.fixture
def cpu(monkeypatch: pytest.MonkeyPatch):
    """Set the CPU's flags and oneDNN's ISA cap; forget earlier warnings."""
    monkeypatch.setattr(speed, "_warned", set())

    def set_cpu(flags: set[str], cap: str | None = None) -> None:
        monkeypatch.setattr(hardware, "cpu_flags", lambda: frozenset(flags))
        if cap is None:
            monkeypatch.delenv("ONEDNN_MAX_CPU_ISA", raising=False)
        else:
            monkeypatch.setenv("ONEDNN_MAX_CPU_ISA", cap)

    return set_cpu


@pytest.mark.parametrize(("flags", "cap", "native"), [
    ({"avx2", "avx512f", "avx512_bf16"}, None, True),
    ({"avx2", "amx_bf16", "amx_tile"}, None, True),
    ({"avx2", "avx512f", "avx512_bf16"}, "AVX512_CORE_BF16", True),
    ({"avx2", "avx512f", "avx512_bf16"}, "AVX2", False),        # oneDNN capped below bf16: emulated
    ({"avx2", "avx512f", "avx512_bf16"}, "avx512_core", False),
    ({"avx2", "avx512f", "avx512bw"}, None, False),            # AVX-512 without bf16 dot products
    ({"avx2", "fma"}, None, False),
])
def test_native_bf16_on_the_cpu(cpu, flags, cap, native) -> None:
    cpu(flags, cap)
    assert hardware.native_bf16(CPU) is native


def test_auto_resolves_to_bf16_and_channels_last_only_where_bf16_is_native(cpu) -> None:
    cpu({"avx512_bf16"})
    got = speed.resolve(SpeedConfig(), CPU).model_dump()
    assert got == {"precision": "bf16", "channels_last": True, "compile": False}
    cpu({"avx2"})
    got = speed.resolve(SpeedConfig(), CPU).model_dump()
    assert got == {"precision": "fp32", "channels_last": False, "compile": False}


def test_explicit_settings_are_kept_and_emulated_bf16_warns_once(cpu) -> None:
    cpu({"avx2"})
    explicit = SpeedConfig(precision="fp32", channels_last=True, compile=False)
    assert speed.resolve(explicit, CPU) == explicit
    with pytest.warns(UserWarning, match="emulated"):
        got = speed.resolve(SpeedConfig(precision="bf16"), CPU)
    assert got.precision == "bf16" and got.channels_last is True
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        speed.resolve(SpeedConfig(precision="bf16"), CPU)
    cpu({"avx512_bf16"})
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert speed.resolve(SpeedConfig(precision="bf16", channels_last=False), CPU).channels_last is False


def test_the_library_default_is_the_fp32_reference_and_auto_must_be_resolved() -> None:
    assert speed.REFERENCE.model_dump() == {"precision": "fp32", "channels_last": False, "compile": False}
    with pytest.raises(Exception, match="resolved"):
        with speed.autocast("auto", CPU):  # type: ignore[arg-type]
            pass


def test_machine_description_names_the_cpu_and_its_capability() -> None:
    line = hardware.machine_line()
    for key in ("cpu", "cpu_capability", "native_bf16", "inductor_trains", "threads", "load_1min"):
        assert key in line


def test_training_under_auto_never_uses_bf16_channels_last_on_the_cpu(cpu) -> None:
    cpu({"avx512_bf16"})
    got = speed.resolve(SpeedConfig(compile=False), CPU, training=True)
    assert got.model_dump() == {"precision": "bf16", "channels_last": False, "compile": False}
    with pytest.warns(UserWarning, match="multiple of 16"):
        assert speed.resolve(SpeedConfig(precision="bf16", channels_last=True), CPU, training=True).channels_last


def test_a_cpu_fit_training_step_is_finite_under_auto_with_bf16(cpu) -> None:
    """The width-24 model's first bf16 step gave a NaN gradient norm in NHWC; the auto rule trains it in NCHW."""
    from stbn.checkpoint import build_model
    from stbn.config import load_config
    from stbn.data.clips import Batch
    from stbn.training.trainer import Trainer

    cpu({"avx512_bf16"})
    cfg = load_config("cpu-fit", ["speed.precision=auto", "speed.channels_last=auto", "speed.compile=false",
                                  "flow.estimator=none"])
    torch.manual_seed(0)
    trainer = Trainer(cfg, build_model(cfg))
    assert trainer.speed.precision == "bf16" and trainer.speed.channels_last is False
    g = torch.Generator().manual_seed(1)
    clean = torch.rand(2, 4, 3, 32, 32, generator=g)
    noisy = clean + 30 / 255 * torch.randn(clean.shape, generator=g)
    loss, _ = trainer.step(Batch(noisy=noisy, clean=None, sigma=torch.full((2, 1, 1, 1, 1), 30 / 255)), 0)
    assert torch.isfinite(torch.tensor(loss))


@pytest.mark.parametrize(("capability", "compiler", "compiles"), [
    ("AVX512", "/usr/bin/g++", True),
    ("AVX2", "/usr/bin/g++", False),    # inductor's AVX2 training graph gave NaN (torch 2.13)
    ("AVX512", None, False),            # inductor needs a C++ compiler
    ("DEFAULT", "/usr/bin/g++", False),
])
def test_auto_compiles_training_only_with_avx512_vector_code_and_a_compiler(
    monkeypatch: pytest.MonkeyPatch, capability, compiler, compiles,
) -> None:
    monkeypatch.setattr(torch.backends.cpu, "get_cpu_capability", lambda: capability)
    monkeypatch.setattr(hardware.shutil, "which", lambda name: compiler)
    assert speed.resolve(SpeedConfig(), CPU, training=True, minutes=30).compile is compiles
    assert speed.resolve(SpeedConfig(), CPU, training=False).compile is False  # inference runs eager
    assert speed.resolve(SpeedConfig(compile=True), CPU, training=True).compile is True
    assert speed.resolve(SpeedConfig(compile=False), CPU, training=True).compile is False
    assert speed.resolve(SpeedConfig(), torch.device("meta"), training=True).compile is False


def test_auto_leaves_short_and_unknown_training_runs_eager(monkeypatch: pytest.MonkeyPatch) -> None:
    """Compiling takes about a minute: under auto only a run known to pay it back compiles."""
    monkeypatch.setattr(hardware, "inductor_trains", lambda device: True)
    auto = SpeedConfig()
    assert speed.resolve(auto, CPU, training=True, steps=speed.COMPILE_MIN_STEPS).compile is True
    assert speed.resolve(auto, CPU, training=True, steps=speed.COMPILE_MIN_STEPS - 1).compile is False
    assert speed.resolve(auto, CPU, training=True, minutes=speed.COMPILE_MIN_MINUTES).compile is True
    assert speed.resolve(auto, CPU, training=True, minutes=0.3).compile is False
    assert speed.resolve(auto, CPU, training=True).compile is False  # unknown length
    assert speed.resolve(SpeedConfig(compile=True), CPU, training=True, minutes=0.3).compile is True
