"""The published-checkpoint experiment: a file in the official naming becomes an stbn checkpoint."""

from __future__ import annotations

import importlib.util
import json
import re
from pathlib import Path

import pytest
import torch

from stbn.checkpoint import build_model, load_model
from stbn.config import load_config
from stbn.models.flow.pwcnet import to_port_state_dict
from stbn.models.official import stbn_to_official

SCRIPT = Path(__file__).resolve().parents[2] / "workflow" / "scripts" / "import_published.py"


@pytest.fixture(scope="module")
def script():
    spec = importlib.util.spec_from_file_location("import_published", SCRIPT)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_official_file_imports_with_identical_weights(script, tmp_path: Path) -> None:
    torch.manual_seed(0)
    cfg = load_config("paper-srgb", ["flow.estimator=pwcnet"])
    original = build_model(cfg, flow_weights=False).state_dict()
    published = stbn_to_official({k: v for k, v in original.items() if not k.startswith("flow.")})
    flow = to_port_state_dict({k[len("flow.net."):]: v for k, v in original.items() if k.startswith("flow.net.")})
    # the published file names every part of the port's keys "net..." (netExtractor.netOne.0.weight)
    published.update({"module.pwcnet." + re.sub(r"(^|\.)module(?=[A-Z])", r"\1net", k): v for k, v in flow.items()})
    path = tmp_path / "STBN_sigma30.pth"
    torch.save(published, path)

    out = tmp_path / "published" / "official" / "sigma30" / "model.pt"
    assert script.main(["--checkpoint", str(path), "--sigma", "30", "--out", str(out)]) == 0
    net, loaded_cfg, payload = load_model(out)
    assert loaded_cfg.flow.estimator == "pwcnet" and loaded_cfg.data.sigma == 30.0
    assert payload["provenance"]["imported_from"] == str(path)
    assert json.loads((out.parent / "config.json").read_text())["model"]["num_channels"] == 64
    state = net.state_dict()
    assert state.keys() == original.keys()
    assert all(torch.equal(state[k], original[k]) for k in original)


def test_foreign_files_are_one_line_errors(script, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "model.pt"
    assert script.main(["--checkpoint", str(tmp_path / "missing.pth"), "--sigma", "30", "--out", str(out)]) == 2
    torch.save({"module.something.weight": torch.zeros(1)}, tmp_path / "foreign.pth")
    assert script.main(["--checkpoint", str(tmp_path / "foreign.pth"), "--sigma", "30", "--out", str(out)]) == 2
    errors = capsys.readouterr().err.splitlines()
    assert len(errors) == 2 and all(e.startswith("import_published: error:") for e in errors)
    assert not out.exists()
