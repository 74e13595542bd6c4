"""The STBN network: published sizes, shapes, API errors, device/dtype discipline, official keys."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
import torch

from stbn import STBN
from stbn.errors import StbnError
from stbn.models.flow import PWCFlow
from stbn.models.flow.pwcnet import from_port_state_dict, to_port_state_dict
from stbn.models.official import load_official_checkpoint, official_to_stbn, stbn_to_official


def test_published_parameter_counts():
    assert STBN(in_channels=3).num_parameters() == 9_138_112
    assert STBN(in_channels=4).num_parameters() == 9_137_536
    assert STBN(in_channels=3, noise_map=False).num_parameters() == 9_137_728  # bdc_flow without PWC


def test_published_module_sizes():
    net = STBN(3)

    def count(m):
        return sum(p.numel() for p in m.parameters())

    assert count(net.forward_cell) == count(net.backward_cell) == 264_640
    assert count(net.fusion) == 845_056
    assert count(net.srfe) == 7_676_928
    assert count(net.out_head) == 86_848


def tiny(in_channels=3, **kw) -> STBN:
    return STBN(in_channels, num_channels=8, num_resblocks=1, srfe_blocks=1, srfe_groups=1, **kw)


@pytest.mark.parametrize(("in_channels", "out_channels"), [(3, 9), (4, 4)])
def test_shapes_and_t1(in_channels, out_channels):
    net = tiny(in_channels)
    for t in (1, 4):
        out = net(torch.rand(2, t, in_channels, 13, 10), noise_map=0.1)
        assert out.shape == (2, t, out_channels, 13, 10)


def test_output_follows_input_dtype_and_batch_elements_are_independent():
    net = tiny().double()
    x = torch.rand(2, 3, 3, 12, 12, dtype=torch.float64)
    out = net(x, noise_map=torch.tensor([0.1, 0.2], dtype=torch.float64).view(2, 1, 1, 1, 1))
    assert out.dtype == torch.float64
    single = net(x[1:], noise_map=0.2)
    assert torch.allclose(out[1:], single, atol=1e-12)


def test_precomputed_flows_equal_the_estimator_path():
    net = tiny()
    x = torch.rand(1, 3, 3, 12, 12)
    z = torch.zeros(1, 2, 2, 12, 12)
    assert torch.equal(net(x, noise_map=0.1), net(x, noise_map=0.1, flows=(z, z)))


def test_api_errors():
    net = tiny()
    with pytest.raises(ValueError, match="noise-level map"):
        net(torch.rand(1, 2, 3, 8, 8))
    with pytest.raises(ValueError, match="expects noisy"):
        net(torch.rand(1, 2, 4, 8, 8), noise_map=0.1)
    with pytest.raises(ValueError, match="flows must be"):
        net(torch.rand(1, 3, 3, 8, 8), noise_map=0.1, flows=(torch.zeros(1, 3, 2, 8, 8),) * 2)
    with pytest.raises(ValueError):
        STBN(in_channels=1)


def test_every_trainable_parameter_gets_a_gradient():
    net = tiny()
    net(torch.rand(1, 3, 3, 12, 12), noise_map=0.1).square().mean().backward()
    missing = [n for n, p in net.named_parameters() if p.grad is None or not torch.isfinite(p.grad).all()]
    assert missing == []


def test_masked_centre_never_counts_even_if_the_weight_is_nonzero():
    net = tiny()
    conv = net.forward_cell.branch[0]
    x = torch.rand(1, 8, 6, 6)
    before = conv(x)
    with torch.no_grad():
        conv.weight[:, :, 1, 1] += 5.0
    assert torch.equal(conv(x), before)


def test_library_has_no_device_literals():
    root = Path(__file__).resolve().parents[2] / "stbn"
    hits = [
        f"{p}:{i}"
        for p in root.rglob("*.py")
        for i, line in enumerate(p.read_text().splitlines(), 1)
        if re.search(r"""['"]cuda['"]|\.cuda\(""", line)
    ]
    assert hits == []


def test_official_checkpoint_round_trip(tmp_path):
    """A full state dict in the published naming (``module.`` prefix, mask buffers, PWC-Net under
    ``pwcnet.`` with every component named ``net<Name>``, as the official code saves it) goes through
    the official mapping and the PWC-Net loader into a model with identical outputs."""
    torch.manual_seed(0)
    ours = STBN(3, flow=PWCFlow()).eval()
    official = stbn_to_official(ours.state_dict())
    assert "module.forward_rnn.branch1.body.0.mask" in official
    assert "module.d.encoder.interpolate.body.1.body.7.body.body.2.weight" in official
    assert "module.concat.convs.0.weight" in official and "module.d2.convs.3.weight" in official
    pwc = to_port_state_dict(ours.flow.net.state_dict())
    official.update({"module.pwcnet." + k.replace("module", "net"): v for k, v in pwc.items()})
    assert "module.pwcnet.netExtractor.netOne.0.weight" in official
    assert "module.pwcnet.netTwo.netUpflow.weight" in official
    path = tmp_path / "official.pth"
    torch.save(official, path)
    denoiser, flow = load_official_checkpoint(path)
    assert len(flow) == len(pwc)
    torch.manual_seed(1)
    fresh = STBN(3, flow=PWCFlow()).eval()
    fresh.load_state_dict({**denoiser, **{f"flow.net.{k}": v for k, v in from_port_state_dict(flow).items()}})
    x = torch.rand(1, 2, 3, 64, 64, generator=torch.Generator().manual_seed(2))
    with torch.no_grad():
        assert torch.equal(fresh.estimate_flows(x)[0], ours.estimate_flows(x)[0])
        assert torch.equal(fresh(x, noise_map=0.1), ours(x, noise_map=0.1))


def test_official_loader_errors(tmp_path):
    with pytest.raises(StbnError, match="checkpoint not found"):
        load_official_checkpoint(tmp_path / "missing.pth")
    bad = tmp_path / "bad.pth"
    bad.write_bytes(b"not a checkpoint")
    with pytest.raises(StbnError, match="not a readable checkpoint"):
        load_official_checkpoint(bad)
    with pytest.raises(StbnError, match="unexpected keys"):
        official_to_stbn({"module.something.weight": torch.zeros(1)})
