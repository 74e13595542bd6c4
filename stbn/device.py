"""Device and thread selection, in one place for every command (``--device auto|cpu|<accelerator>``).

No device name is hard-coded: ``auto`` asks torch which accelerator this machine has (CUDA, ROCm, MPS,
XPU ...), and any other value is parsed by ``torch.device`` and checked against that accelerator.
"""

from __future__ import annotations

import argparse

import torch

from stbn.errors import StbnError


def resolve_device(name: str = "auto") -> torch.device:
    """``auto``: the machine's accelerator if one is available, else the CPU; an unavailable device is a user error."""
    accelerator = torch.accelerator.current_accelerator(check_available=True)
    if name == "auto":
        return accelerator if accelerator is not None else torch.device("cpu")
    try:
        device = torch.device(name)
    except (RuntimeError, ValueError) as exc:
        raise StbnError(f"--device {name!r}: not a device name (use auto, cpu or e.g. cuda:0)") from exc
    if device.type != "cpu" and (accelerator is None or accelerator.type != device.type):
        raise StbnError(f"--device {name}: no such device is available here (use --device cpu or auto)")
    return device


def set_threads(threads: int) -> None:
    """Use ``threads`` CPU threads for torch ops (0 keeps torch's default)."""
    if threads > 0:
        torch.set_num_threads(threads)


def add_device_argument(parser: argparse.ArgumentParser) -> None:
    """The shared ``--device`` option."""
    parser.add_argument(
        "--device", default="auto", help="where the model runs: auto (default), cpu, or an accelerator such as cuda:0"
    )
