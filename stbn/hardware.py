"""What the machine can run fast, and one line saying which machine a measurement came from.

bf16 is only worth it where the hardware has bf16 dot products: CPUs with AVX512-BF16 or AMX (oneDNN's
``avx512_core_bf16``/``amx`` kernels) and CUDA GPUs of compute capability 8.0 or later. Elsewhere oneDNN
emulates it: on an AVX2-only CPU the paper-width network ran about 5x slower in bf16 than in fp32
(``docs/performance.md``). ``ONEDNN_MAX_CPU_ISA`` caps the kernels oneDNN may use, so a cap below the bf16
ISAs counts as "emulated" too (and lets one machine stand in for an AVX2-only one).
"""

from __future__ import annotations

import functools
import os
import platform
import shutil
from pathlib import Path

import torch

# oneDNN ISA caps that still allow native bf16 kernels (names as oneDNN spells them)
_BF16_ISAS = frozenset({
    "ALL", "AVX512_CORE_BF16", "AVX512_CORE_FP16", "AVX512_CORE_AMX", "AVX512_CORE_AMX_FP16",
    "AVX10_1_512", "AVX10_1_512_AMX", "AVX10_1_512_AMX_FP16", "AVX10_2_512", "AVX10_2_512_AMX_2",
})
_BF16_FLAGS = frozenset({"avx512_bf16", "amx_bf16"})


@functools.cache
def _cpuinfo() -> tuple[str, frozenset[str]]:
    """``(model name, flags)`` of the first CPU in ``/proc/cpuinfo`` (the platform's strings elsewhere)."""
    model: str | None = None
    flags: frozenset[str] | None = None
    try:
        lines = Path("/proc/cpuinfo").read_text().splitlines()
    except OSError:
        lines = []
    for line in lines:
        key, _, value = line.partition(":")
        if key.strip() == "model name" and model is None:
            model = value.strip()
        elif key.strip() == "flags" and flags is None:
            flags = frozenset(value.split())
    return model or platform.processor() or platform.machine(), flags or frozenset()


def cpu_model() -> str:
    """The CPU's model name (``/proc/cpuinfo``; the platform's processor string elsewhere)."""
    return _cpuinfo()[0]


def cpu_flags() -> frozenset[str]:
    """The CPU's feature flags (Linux ``/proc/cpuinfo``; empty elsewhere)."""
    return _cpuinfo()[1]


def native_bf16(device: torch.device) -> bool:
    """Whether ``device`` runs bf16 convolutions natively (not emulated)."""
    if device.type == "cpu":
        cap = os.environ.get("ONEDNN_MAX_CPU_ISA", "ALL").strip().upper()
        return cap in _BF16_ISAS and bool(_BF16_FLAGS & cpu_flags())
    backend = getattr(torch, device.type, None)  # torch.cuda for CUDA devices (compute capability 8.0+)
    capability = getattr(backend, "get_device_capability", None)
    return capability is not None and capability(device)[0] >= 8


def inductor_trains(device: torch.device) -> bool:
    """Whether ``torch.compile`` (inductor) is known to train the network right and faster on ``device``.

    On the CPU: torch's vector code is AVX-512 (``ATEN_CPU_CAPABILITY`` caps it, and inductor follows) and
    a C++ compiler is on the path. With AVX2 vector code, inductor of torch 2.13 gave NaN outputs in the
    training graph of the ``cpu-fit`` network at T=6 (right at T<=5, and with scalar or AVX-512 code);
    CUDA was not measured (docs/performance.md).
    """
    if device.type != "cpu":
        return False
    compiler = os.environ.get("CXX") or "g++"
    return torch.backends.cpu.get_cpu_capability().startswith("AVX512") and shutil.which(compiler) is not None


def describe() -> dict[str, object]:
    """The facts every benchmark prints: CPU model, torch's CPU capability, bf16 support, threads, load."""
    return {
        "cpu": cpu_model(),
        "cpu_capability": torch.backends.cpu.get_cpu_capability(),
        "onednn_max_isa": os.environ.get("ONEDNN_MAX_CPU_ISA", "ALL"),
        "native_bf16": native_bf16(torch.device("cpu")),
        "inductor_trains": inductor_trains(torch.device("cpu")),
        "cores": os.cpu_count(),
        "threads": torch.get_num_threads(),
        "load_1min": round(os.getloadavg()[0], 2),
        "torch": str(torch.__version__),
    }


def machine_line() -> str:
    """:func:`describe` as one printable line."""
    return "machine: " + ", ".join(f"{k} {v}" for k, v in describe().items())
