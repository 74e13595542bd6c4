"""Behaviour is unchanged: every inference path, the CLI verbs and a training log reproduce the stored
digests of ``tests/fixtures/behaviour/expected.json`` bit-exactly (``cases.py`` there says how to
regenerate them, and when)."""

from __future__ import annotations

import importlib.util
import json
from pathlib import Path

FIXTURE = Path(__file__).resolve().parents[1] / "fixtures" / "behaviour"


def _cases():
    spec = importlib.util.spec_from_file_location("behaviour_cases", FIXTURE / "cases.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_outputs_match_the_stored_digests(tmp_path):
    cases = _cases()
    expected = json.loads(cases.EXPECTED.read_text())["cases"]
    problems = cases.compare(cases.compute(tmp_path), expected)
    assert not problems, "\n".join(problems)
