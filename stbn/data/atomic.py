"""Atomic outputs: write under a temporary sibling name, rename into place only when complete."""

from __future__ import annotations

import os
import shutil
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from stbn.errors import StbnError


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


def check_target(target: Path, what: str, directory: bool = False) -> None:
    """Fail early (:class:`StbnError` naming ``what`` and ``target``) when :func:`atomic_output` could not
    put ``target`` in place: its nearest existing ancestor must be a writable folder (missing parents are
    created), and an existing ``target`` must be a folder when ``directory`` is set, else a file."""
    path = Path(target).absolute()
    if path.exists() and path.is_dir() != directory:
        raise StbnError(f"{what} {target}: exists and is {'not ' if directory else ''}a folder")
    parent = path.parent
    while not parent.exists():
        parent = parent.parent
    if not parent.is_dir():
        raise StbnError(f"{what} {target}: {parent} is not a folder")
    if not os.access(parent, os.W_OK | os.X_OK):
        raise StbnError(f"{what} {target}: cannot write in {parent}")
