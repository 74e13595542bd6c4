"""Shared pytest fixtures."""

from __future__ import annotations

import importlib
import sys
from collections.abc import Callable
from pathlib import Path
from types import ModuleType

import pytest

BENCHMARKS = Path(__file__).resolve().parents[1] / "benchmarks"


@pytest.fixture(scope="session")
def load_benchmark() -> Callable[[str], ModuleType]:
    """A function importing ``benchmarks/<name>.py`` as a module (the folder is scripts, not a package)."""

    def load(name: str) -> ModuleType:
        sys.path.insert(0, str(BENCHMARKS))
        try:
            return importlib.import_module(name)
        finally:
            sys.path.remove(str(BENCHMARKS))

    return load


@pytest.fixture(scope="session")
def embedded_data(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """The embedded datasets, materialised once per test session: ``{name: dataset root}``."""
    from stbn.data.embedded import materialise

    return materialise(tmp_path_factory.mktemp("embedded"))


@pytest.fixture(scope="session")
def corpus_data(embedded_data: dict[str, Path]) -> dict[str, Path]:
    """The video corpus's datasets, materialised once per test session beside the embedded ones."""
    from stbn.data.corpus import materialise

    return materialise(next(iter(embedded_data.values())).parent)
