"""Shared pytest fixtures."""

from __future__ import annotations

from pathlib import Path

import pytest


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
