"""`stbn import-published`: the three published networks become stbn checkpoints with bit-identical
outputs; any other file is a one-line error that writes nothing.

No published file is available offline, so each test file is synthesised: a model of the network with
random weights, saved under the official key names (STBN_SPEC.md section 1: ``module.`` prefix,
``forward_rnn``/``backward_rnn``/``concat``/``d``/``d2``/``pwcnet`` with the port's ``net<Name>`` keys,
the masked convolutions' mask buffers) and checked against the spec's shapes and parameter counts
(section 9) before it is imported.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
import torch

from stbn.checkpoint import load_model
from stbn.cli import main
from stbn.models.flow.pwcnet import to_port_state_dict
from stbn.models.official import PUBLISHED_NETWORKS, published_config, stbn_to_official
from stbn.models.registry import build_model

# STBN_SPEC.md section 9: parameters of the official classes, PWC-Net included (its 9,374,274)
SPEC_TOTALS = {"srgb": 18_512_386, "raw": 18_511_810, "flow": 18_512_002}
PWC_PARAMETERS = 9_374_274
SIGMA = {"srgb": 30.0, "raw": None, "flow": 30.0}


def _published_file(network: str, path: Path) -> tuple[torch.nn.Module, Path]:
    """(our model with random weights, the same weights saved in the official layout at ``path``)."""
    torch.manual_seed(sorted(PUBLISHED_NETWORKS).index(network))
    net = build_model(published_config(network, SIGMA[network]), flow_weights=False).eval()
    state = net.state_dict()
    official = stbn_to_official({k: v for k, v in state.items() if not k.startswith("flow.")})
    pwc = to_port_state_dict({k.removeprefix("flow.net."): v for k, v in state.items() if k.startswith("flow.net.")})
    official |= {"module.pwcnet." + re.sub(r"(^|\.)module(?=[A-Z])", r"\1net", k): v for k, v in pwc.items()}
    # the spec's layout: step input image + 64 state (+ noise map), D_dilate without bias, the head's outputs
    c = 4 if network == "raw" else 3
    assert official["module.forward_rnn.head.0.weight"].shape == (64, PUBLISHED_NETWORKS[network].step_inputs, 1, 1)
    assert official["module.backward_rnn.branch1.body.0.mask"].shape == (64, 64, 3, 3)
    assert "module.concat.convs.0.bias" not in official
    assert official["module.concat.convs.0.weight"].shape == (128, 128, 1, 1)
    assert official["module.d2.convs.3.weight"].shape[0] == (c if network == "raw" else 9)
    assert official["module.pwcnet.netExtractor.netOne.0.weight"].shape == (16, 3, 3, 3)
    params = {k: v for k, v in official.items() if not k.endswith(".mask")}
    assert sum(v.numel() for v in params.values()) == SPEC_TOTALS[network]
    assert sum(v.numel() for k, v in params.items() if k.startswith("module.pwcnet.")) == PWC_PARAMETERS
    torch.save(official, path)
    return net, path


def _forward(net: torch.nn.Module, network: str) -> torch.Tensor:
    c = 4 if network == "raw" else 3
    clip = torch.rand(1, 2, c, 32, 32, generator=torch.Generator().manual_seed(7))
    with torch.no_grad():
        return net(clip, noise_map=None if network == "raw" else 30 / 255)


@pytest.mark.parametrize("network", sorted(PUBLISHED_NETWORKS))
def test_each_published_network_imports_with_identical_outputs(network: str, tmp_path: Path) -> None:
    original, path = _published_file(network, tmp_path / f"{network}.pth")
    out = tmp_path / "imported"
    sigma = [] if SIGMA[network] is None else ["--sigma", "30"]
    assert main(["import-published", "--checkpoint", str(path), *sigma, "--out", str(out)]) == 0
    assert sorted(p.name for p in out.iterdir()) == ["config.json", "model.pt"]
    net, cfg, payload = load_model(out / "model.pt")
    assert cfg == published_config(network, SIGMA[network])
    assert json.loads((out / "config.json").read_text()) == cfg.model_dump(mode="json")
    assert payload["provenance"]["imported_from"] == str(path)
    assert (cfg.flow.estimator, cfg.model.num_channels, cfg.data.kind) == (
        "pwcnet", 64, "raw" if network == "raw" else "srgb")
    assert cfg.model.resolved_noise_map == (network == "srgb") and cfg.flow.distill.enabled == (network == "flow")
    state, expected = net.state_dict(), original.state_dict()
    assert state.keys() == expected.keys() and all(torch.equal(state[k], expected[k]) for k in expected)
    assert torch.equal(_forward(net, network), _forward(original, network))


@pytest.fixture(scope="module")
def srgb_file(tmp_path_factory) -> Path:
    _, path = _published_file("srgb", tmp_path_factory.mktemp("published") / "STBN_sigma30.pth")
    return path


def _edited(edit):
    """A maker of a test file: the synthetic sRGB file with ``edit`` applied to its state dict."""

    def make(srgb_file: Path, tmp_path: Path) -> Path:
        state = torch.load(srgb_file, weights_only=True)
        edit(state)
        path = tmp_path / "edited.pth"
        torch.save(state, path)
        return path

    return make


def _bytes(srgb_file: Path, tmp_path: Path) -> Path:
    path = tmp_path / "notes.pth"
    path.write_bytes(b"not a checkpoint")
    return path


def _drop_pwcnet(state: dict) -> None:
    for key in [k for k in state if k.startswith("module.pwcnet.")]:
        del state[key]


ERRORS = {  # case: (the file, further arguments, the message)
    "missing file": (lambda f, tmp: tmp / "missing.pth", ["--sigma", "30"], "checkpoint not found"),
    "not a torch file": (_bytes, ["--sigma", "30"], "not a readable checkpoint"),
    "foreign keys": (_edited(lambda s: s.update({"module.other.weight": torch.zeros(1)})), ["--sigma", "30"],
                     "not a published STBN state dict: unexpected keys ['other.weight']"),
    "no PWC-Net": (_edited(_drop_pwcnet), ["--sigma", "30"], "holds no PWC-Net weights"),
    "a tensor missing": (_edited(lambda s: s.pop("module.d.encoder.interpolate.tailConv.2.bias")), ["--sigma", "30"],
                         "1 missing tensor(s), e.g. srfe.tail.2.bias"),
    "wrong shape": (_edited(lambda s: s.update({"module.d2.convs.3.weight": torch.zeros(9, 32, 1, 1)})),
                    ["--sigma", "30"], "out_head.layers.3.weight is (9, 32, 1, 1), expected (9, 64, 1, 1)"),
    "another network": (lambda f, tmp: f, ["--network", "raw"],
                        "holds the published srgb network (bdc_2_unify), not raw"),
    "no sigma": (lambda f, tmp: f, [], "needs the sigma it was trained for"),
    "sigma out of range": (lambda f, tmp: f, ["--sigma", "300"], "--sigma 300.0: expected a std on the /255 scale"),
}


@pytest.mark.parametrize("case", ERRORS)
def test_a_wrong_file_is_one_line_and_writes_nothing(case, srgb_file, tmp_path, capsys) -> None:
    make, args, message = ERRORS[case]
    path = make(srgb_file, tmp_path)
    out = tmp_path / "out"
    assert main(["import-published", "--checkpoint", str(path), *args, "--out", str(out)]) == 2
    err = capsys.readouterr().err.splitlines()
    assert len(err) == 1 and err[0].startswith("stbn import-published: error: ") and message in err[0], err
    assert not out.exists() and not [p for p in tmp_path.iterdir() if p.name.startswith(".")], "nothing written"


def test_an_import_replaces_a_previous_one_but_no_other_folder(srgb_file, tmp_path, capsys) -> None:
    out = tmp_path / "out"
    args = ["import-published", "--checkpoint", str(srgb_file), "--network", "srgb", "--sigma", "30", "--out", str(out)]
    (out / "model.pt").parent.mkdir()
    (out / "model.pt").write_text("a previous import")
    assert main(args) == 0 and load_model(out / "model.pt")[1].name == "published-srgb"
    (out / "notes.txt").write_text("mine")
    assert main(args) == 2
    assert "holds files other than a previous import's" in capsys.readouterr().err
    assert sorted(p.name for p in out.iterdir()) == ["config.json", "model.pt", "notes.txt"]
