"""Indexed stores of equally-shaped tensors, in memory or spilled to a file on disk, and the
:class:`Storage` that makes (and finally closes) every store of one denoising call.

The engine keeps per-frame tensors (noisy frames, flows, recurrent states, outputs, estimates) in these,
so that with spilling resident memory does not grow with the clip length. The disk store writes raw
bytes with ordinary file I/O (not ``mmap``), so read pages land in the OS cache, not in the process's
resident set.
"""

from __future__ import annotations

import os
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Protocol

import numpy as np
import torch


def _raw_bytes(x: torch.Tensor) -> np.ndarray:
    """A writable uint8 view of the whole storage of a dense CPU tensor (any dtype, any memory format)."""
    return torch.empty(0, dtype=torch.uint8).set_(x.untyped_storage()).numpy()


class TensorStore(Protocol):
    """``put(i, x)`` stores one tensor under index ``i``; ``get(i)`` returns it on ``device``."""

    def put(self, i: int, x: torch.Tensor) -> None:
        """Store ``x`` (any device) under index ``i``, replacing what was there."""

    def get(self, i: int) -> torch.Tensor:
        """The tensor stored under ``i``."""

    def close(self) -> None:
        """Release the storage."""


class MemoryStore:
    """Tensors kept as they are, in a dict."""

    def __init__(self) -> None:
        self._items: dict[int, torch.Tensor] = {}

    def put(self, i: int, x: torch.Tensor) -> None:
        """Keep ``x`` (not copied) under ``i``."""
        self._items[i] = x

    def get(self, i: int) -> torch.Tensor:
        """The tensor kept under ``i``."""
        return self._items[i]

    def close(self) -> None:
        """Drop every tensor."""
        self._items.clear()


class DiskStore:
    """Tensors written to one anonymous temporary file in ``directory`` (None: the system temp folder).

    Every tensor must have the shape, dtype and memory format of the first one stored; ``get`` returns
    a fresh tensor in that layout on ``device``. The file is deleted on :meth:`close` (or process exit).
    """

    def __init__(self, device: torch.device, directory: str | Path | None = None) -> None:
        self.device = device
        self._file = tempfile.TemporaryFile(dir=directory)
        self._like: torch.Tensor | None = None
        self._nbytes = 0
        self._written: set[int] = set()

    def put(self, i: int, x: torch.Tensor) -> None:
        """Write ``x`` at slot ``i``."""
        cpu = x.detach().to("cpu")
        if self._like is None:
            self._like = torch.empty_like(cpu)
            self._nbytes = self._like.untyped_storage().nbytes()
        elif cpu.shape != self._like.shape or cpu.dtype != self._like.dtype:
            raise ValueError(
                f"DiskStore holds {tuple(self._like.shape)} {self._like.dtype}, got {tuple(cpu.shape)} {cpu.dtype}"
            )
        data = torch.empty_like(self._like).copy_(cpu)
        os.pwrite(self._file.fileno(), _raw_bytes(data), i * self._nbytes)
        self._written.add(i)

    def get(self, i: int) -> torch.Tensor:
        """Read slot ``i`` back onto the store's device."""
        if self._like is None or i not in self._written:
            raise KeyError(f"DiskStore: nothing stored under {i}")
        out = torch.empty_like(self._like)
        if os.preadv(self._file.fileno(), [_raw_bytes(out)], i * self._nbytes) != self._nbytes:
            raise OSError(f"DiskStore: short read of slot {i}")
        return out.to(self.device)

    def close(self) -> None:
        """Delete the file."""
        self._file.close()


@dataclass
class IndexedStore:
    """Read-only view of ``store`` with index ``i`` mapped to ``start + step * i``: a span of it (step 1) or
    its reversal (step -1)."""

    store: TensorStore
    start: int
    step: int = 1

    def put(self, i: int, x: torch.Tensor) -> None:
        """Views are read-only."""
        raise TypeError("an indexed view of a store is read-only")

    def get(self, i: int) -> torch.Tensor:
        """The tensor stored under ``start + step * i``."""
        return self.store.get(self.start + self.step * i)

    def close(self) -> None:
        """Nothing to release: the viewed store belongs to its maker."""


@dataclass
class Storage:
    """Makes the stores of one denoising call, all of one kind: a temporary file each in ``directory``
    (None: the system temp folder) with ``spill``, else memory. Stores with a short life are closed by
    their user; :meth:`close` closes whatever is left."""

    device: torch.device
    spill: bool = False
    directory: str | Path | None = None
    _made: list[TensorStore] = field(default_factory=list)

    def new(self) -> TensorStore:
        """An empty store of this kind."""
        store: TensorStore = DiskStore(self.device, self.directory) if self.spill else MemoryStore()
        self._made.append(store)
        return store

    def sibling(self) -> Storage:
        """A new, empty storage of the same kind (for stores with a shorter life, closed together)."""
        return Storage(self.device, self.spill, self.directory)

    def close(self) -> None:
        """Close every store made here."""
        for store in self._made:
            store.close()
        self._made.clear()
