"""Behaviour is unchanged: every inference path, the CLI verbs and a training log reproduce the stored
digests of ``tests/fixtures/behaviour/expected.json`` bit-exactly on the CPU kind that wrote them, and
within ``cases.RTOL`` on another (``cases.py`` there says how to regenerate them, and when)."""

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
    fixture = json.loads(cases.EXPECTED.read_text())
    exact = fixture["machine"] == cases.machine_kind()  # bit for bit on the kind that wrote the digests
    problems = cases.compare(cases.compute(tmp_path), fixture["cases"], exact)
    assert not problems, "\n".join(problems)
