"""Device and thread selection, in one place for every command (``--device auto|cpu|cuda``)."""

from __future__ import annotations

import argparse

import torch

from stbn.errors import StbnError

DEVICE_CHOICES: tuple[str, ...] = ("auto", "cpu", "cuda")


def resolve_device(name: str = "auto") -> torch.device:
    """``auto``: CUDA if available, else CPU; ``cuda`` without a GPU is a user error."""
    if name not in DEVICE_CHOICES:
        raise StbnError(f"--device {name!r}: expected one of {', '.join(DEVICE_CHOICES)}")
    if name == "cuda" and not torch.cuda.is_available():
        raise StbnError("--device cuda: no CUDA device is available (use --device cpu or auto)")
    if name == "auto":
        name = "cuda" if torch.cuda.is_available() else "cpu"
    return torch.device(name)


def set_threads(threads: int) -> None:
    """Use ``threads`` CPU threads for torch ops (0 keeps torch's default)."""
    if threads > 0:
        torch.set_num_threads(threads)


def add_device_argument(parser: argparse.ArgumentParser) -> None:
    """The shared ``--device`` option."""
    parser.add_argument("--device", default="auto", choices=DEVICE_CHOICES, help="where the model runs (default: auto)")
