"""Speed switches shared by inference and training: memory format and reduced precision.

fp32 eager in the default (contiguous NCHW) memory format is the reference path (:data:`REFERENCE`, what
the library's functions use when given no speed config); a config's ``auto`` picks per machine
(:func:`resolve`). Measured effects per machine kind are in ``docs/performance.md``.

- ``channels_last``: weights and activations in NHWC, so oneDNN convolutions skip their layout reorders.
- ``compile``: ``torch.compile`` (inductor) of the network for training steps.
- ``precision``: ``"bf16"`` or ``"fp16"`` autocast around the network (never around the flow estimator
  or the float64 likelihood/posterior); ``"fp16"`` is for accelerators only.
"""

from __future__ import annotations

import contextlib
import warnings
from collections.abc import Iterator
from typing import Literal

import torch
import torch.nn as nn

from stbn import hardware
from stbn.config import SpeedConfig
from stbn.errors import StbnError

Precision = Literal["fp32", "bf16", "fp16"]
PRECISIONS: tuple[str, ...] = ("fp32", "bf16", "fp16")
_DTYPES = {"bf16": torch.bfloat16, "fp16": torch.float16}
REFERENCE = SpeedConfig(precision="fp32", channels_last=False, compile=False)
# the paper-width network, 128x128 streaming, 1 thread, oneDNN capped at AVX2 on an AVX512-BF16 EPYC
# (docs/performance.md); an AVX2-only EPYC measured 7x for a whole inference with PWC-Net
EMULATED_BF16_COST = "about 5x slower than fp32"
_warned: set[str] = set()


# Under ``compile: auto`` shorter training runs (and runs of unknown length) stay eager: compiling a training
# graph took 40-110 s on 2 cores (cpu-fit to paper width, cold cache) and a cpu-fit step saves about 0.1 s, so
# it pays after some 1000 steps or 5 minutes (docs/performance.md).
COMPILE_MIN_STEPS = 1000
COMPILE_MIN_MINUTES = 5.0


def resolve(
    cfg: SpeedConfig, device: torch.device, training: bool = False, steps: int | None = None,
    minutes: float | None = None,
) -> SpeedConfig:
    """``cfg`` with ``auto`` replaced by what ``device`` runs fastest (rules measured in docs/performance.md).

    ``precision: auto`` -> bf16 where :func:`stbn.hardware.native_bf16`, else fp32. ``channels_last: auto``
    -> on with a reduced precision for inference, off with fp32 (no gain on AVX-512, slower on AVX2) and off
    for training: oneDNN's bf16 weight gradient of a dilated convolution in NHWC is garbage (non-finite)
    when the channel count is not a multiple of 16 (e.g. width 24), measured with torch 2.13 on an
    AVX512-BF16 CPU. ``compile``: off for inference; for training ``auto`` -> :func:`stbn.hardware.inductor_trains`,
    for runs known to be long (``steps`` at least :data:`COMPILE_MIN_STEPS` or ``minutes`` at least
    :data:`COMPILE_MIN_MINUTES`; a run of unknown length stays eager).
    An explicit bf16 on hardware that emulates it, or bf16 + channels-last for training, is kept and
    warned about once per process.
    """
    precision = cfg.precision
    if precision == "auto":
        precision = "bf16" if hardware.native_bf16(device) else "fp32"
    elif precision == "bf16" and not hardware.native_bf16(device):
        _warn_once(f"emulated-{device.type}", f"precision bf16 on this {device.type} is emulated (no native bf16 "
                   f"kernels): {EMULATED_BF16_COST}; precision: auto picks fp32 here")
    if cfg.channels_last == "auto":
        channels_last = precision != "fp32" and not (training and device.type == "cpu")
    else:
        channels_last = cfg.channels_last
        if training and channels_last and precision == "bf16" and device.type == "cpu":
            _warn_once("bf16-cl-training", "bf16 + channels-last training on the CPU: oneDNN's weight gradients of "
                       "dilated convolutions whose channel count is not a multiple of 16 are not finite; "
                       "channels_last: auto trains in NCHW")
    if cfg.compile == "auto":
        long = ((steps is not None and steps >= COMPILE_MIN_STEPS)
                or (minutes is not None and minutes >= COMPILE_MIN_MINUTES))
        compiled = training and long and hardware.inductor_trains(device)
    else:
        compiled = training and cfg.compile
    return cfg.model_copy(update={"precision": precision, "channels_last": channels_last, "compile": compiled})


def _warn_once(key: str, message: str) -> None:
    if key not in _warned:
        _warned.add(key)
        warnings.warn(message, stacklevel=3)


def check_precision(precision: str, device: torch.device) -> None:
    """Raise a user error for an unknown precision or one the device cannot run fast."""
    if precision == "auto":
        raise StbnError("precision auto must be resolved first (stbn.engine.speed.resolve)")
    if precision not in PRECISIONS:
        raise StbnError(f"precision {precision!r}: expected one of {', '.join(PRECISIONS)}")
    if precision == "fp16" and device.type == "cpu":
        raise StbnError("precision fp16 is for accelerators; on the CPU use bf16")


@contextlib.contextmanager
def autocast(precision: Precision, device: torch.device) -> Iterator[None]:
    """Autocast to ``precision`` on ``device`` (a no-op for ``"fp32"``)."""
    check_precision(precision, device)
    if precision == "fp32":
        yield
        return
    with torch.autocast(device_type=device.type, dtype=_DTYPES[precision]):
        yield


def prepare_model(net: nn.Module, channels_last: bool) -> nn.Module:
    """Convert ``net``'s 4-D parameters and buffers to the requested memory format, in place."""
    return net.to(memory_format=torch.channels_last if channels_last else torch.contiguous_format)

