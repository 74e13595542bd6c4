"""Speed switches shared by inference and training: memory format and reduced precision.

fp32 eager in the default (contiguous NCHW) memory format is the reference path; every switch here is
off by default. Measured effects on a 2-core AVX512-BF16 CPU are in ``docs/performance.md``.

- ``channels_last``: weights and activations in NHWC, so oneDNN convolutions skip their layout reorders.
- ``precision``: ``"bf16"`` or ``"fp16"`` autocast around the network (never around the flow estimator
  or the float64 likelihood/posterior); ``"fp16"`` is for accelerators only.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from typing import Literal

import torch
import torch.nn as nn

from stbn.errors import StbnError

Precision = Literal["fp32", "bf16", "fp16"]
PRECISIONS: tuple[str, ...] = ("fp32", "bf16", "fp16")
_DTYPES = {"bf16": torch.bfloat16, "fp16": torch.float16}


def check_precision(precision: str, device: torch.device) -> None:
    """Raise a user error for an unknown precision or one the device cannot run fast."""
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

