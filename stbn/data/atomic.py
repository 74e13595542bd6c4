"""Atomic outputs: write under a temporary sibling name, rename into place only when complete."""

from __future__ import annotations

import os
import shutil
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path


def _remove(path: Path) -> None:
    if path.is_dir() and not path.is_symlink():
        shutil.rmtree(path, ignore_errors=True)
    elif path.exists() or path.is_symlink():
        path.unlink()


@contextmanager
def atomic_output(target: Path, directory: bool = False) -> Iterator[Path]:
    """Yield a temporary sibling of ``target`` (a file, or a fresh folder when ``directory``) to write to.

    On normal exit the temporary replaces ``target`` (an existing folder is swapped out, then removed);
    on an exception it is deleted, so ``target`` is never left half-written. The temporary keeps
    ``target``'s suffix so that format detection by extension still works.
    """
    target = Path(target)
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = target.with_name(f".{target.stem}.tmp-{uuid.uuid4().hex[:8]}{target.suffix}")
    if directory:
        tmp.mkdir()
    try:
        yield tmp
        if directory and target.exists():
            old = target.with_name(f".{target.name}.old-{uuid.uuid4().hex[:8]}")
            os.replace(target, old)
            os.replace(tmp, target)
            _remove(old)
        else:
            os.replace(tmp, target)
    except BaseException:
        _remove(tmp)
        raise
