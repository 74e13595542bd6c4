"""PWC-Net: published size, the sniklaus checkpoint format, the 5.2 resize/rescale protocol, errors."""

import socket

import pytest
import torch
import torch.nn as nn
import torch.nn.functional as F

from stbn.errors import StbnError
from stbn.models.flow import PWCFlow, PWCNet, build_flow, load_pwc_state_dict
from stbn.models.flow.pwcnet import backwarp, to_port_state_dict


@pytest.fixture(autouse=True)
def no_network(monkeypatch):
    """Any attempt to open a connection or use torch.hub fails the test."""

    def refuse(*args, **kwargs):
        raise AssertionError("network access attempted")

    monkeypatch.setattr(socket.socket, "connect", refuse)
    monkeypatch.setattr(torch.hub, "load_state_dict_from_url", refuse)


@pytest.fixture(scope="module")
def net() -> PWCNet:
    torch.manual_seed(0)
    return PWCNet().eval()


def port_layout(prefix: str = "module") -> nn.Module:
    """The module tree of the sniklaus port written out independently (Sequentials with activations
    in between), so its state-dict keys and shapes are the file format's. ``prefix`` names every
    component: ``module`` (the published file) or ``net`` (newer port code, STBN's checkpoints)."""
    leaky = nn.LeakyReLU(0.1)

    def conv(i, o, **kw):
        return nn.Conv2d(i, o, 3, padding=kw.pop("padding", 1), **kw)

    root = nn.Module()
    ext = nn.Module()
    chans = [3, 16, 32, 64, 96, 128, 196]
    names = ["One", "Two", "Thr", "Fou", "Fiv", "Six"]
    for i, name in enumerate(names):
        c = chans[i + 1]
        block = nn.Sequential(conv(chans[i], c, stride=2), leaky, conv(c, c), leaky, conv(c, c), leaky)
        setattr(ext, f"{prefix}{name}", block)
    setattr(root, f"{prefix}Extractor", ext)
    current = {6: 81, 5: 81 + 128 + 4, 4: 81 + 96 + 4, 3: 81 + 64 + 4, 2: 81 + 32 + 4}
    for level in (2, 3, 4, 5, 6):
        dec = nn.Module()
        c = current[level]
        if level < 6:
            setattr(dec, f"{prefix}Upflow", nn.ConvTranspose2d(2, 2, 4, 2, 1))
            setattr(dec, f"{prefix}Upfeat", nn.ConvTranspose2d(current[level + 1] + 448, 2, 4, 2, 1))
        for name, out in zip(names, (128, 128, 96, 64, 32)):
            setattr(dec, f"{prefix}{name}", nn.Sequential(conv(c, out), leaky))
            c += out
        setattr(dec, f"{prefix}Six", nn.Sequential(conv(c, 2)))
        setattr(root, f"{prefix}{names[level - 1]}", dec)
    ref = nn.Module()
    layers, c = [], 81 + 32 + 4 + 448
    for out, dil in zip((128, 128, 128, 96, 64, 32, 2), (1, 2, 4, 8, 16, 1, 1)):
        layers += [conv(c, out, padding=dil, dilation=dil), leaky]
        c = out
    setattr(ref, f"{prefix}Main", nn.Sequential(*layers[:-1]))
    setattr(root, f"{prefix}Refiner", ref)
    return root


def test_published_parameter_count(net):
    assert sum(p.numel() for p in net.parameters()) == 9_374_274


def test_port_key_mapping_matches_the_port_module_tree(net):
    ported = to_port_state_dict(net.state_dict())
    expected = {k: v.shape for k, v in port_layout().state_dict().items()}
    assert {k: v.shape for k, v in ported.items()} == expected
    assert "moduleExtractor.moduleOne.0.weight" in ported and "moduleRefiner.moduleMain.12.bias" in ported


def in_port_format(net: PWCNet, prefix: str, data_parallel: bool) -> dict[str, torch.Tensor]:
    """``net``'s weights under the keys of :func:`port_layout` with ``prefix`` (every component renamed,
    as in the real files), optionally behind a DataParallel ``module.``."""
    ported = {k.replace("module", prefix): v for k, v in to_port_state_dict(net.state_dict()).items()}
    assert {k: v.shape for k, v in ported.items()} == {k: v.shape for k, v in port_layout(prefix).state_dict().items()}
    return {("module." if data_parallel else "") + k: v for k, v in ported.items()}


@pytest.mark.parametrize("data_parallel", [False, True], ids=["plain", "data-parallel"])
@pytest.mark.parametrize("prefix", ["module", "net"])
def test_sniklaus_format_checkpoint_loads_with_identical_outputs(net, tmp_path, prefix, data_parallel):
    ported = in_port_format(net, prefix, data_parallel)
    assert f"{'module.' * data_parallel}{prefix}Extractor.{prefix}One.0.weight" in ported
    assert f"{'module.' * data_parallel}{prefix}Two.{prefix}Upfeat.bias" in ported
    path = tmp_path / "network-default.pytorch"
    torch.save(ported, path)
    est, ref = PWCFlow(weights=path).eval(), PWCFlow().eval()
    ref.net = net
    frames = torch.rand(1, 2, 3, 64, 64, generator=torch.Generator().manual_seed(3))
    with torch.no_grad():
        for a, b in zip(est(frames), ref(frames)):
            assert torch.equal(a, b)
    assert all(torch.equal(v, net.state_dict()[k]) for k, v in load_pwc_state_dict(path).items())


def test_estimator_output_layout_at_any_size(net):
    est = PWCFlow()
    est.net = net
    frames = torch.rand(2, 2, 3, 40, 72)
    with torch.no_grad():
        fwd, bwd = est(frames)
    assert fwd.shape == bwd.shape == (2, 1, 2, 40, 72)
    assert torch.isfinite(fwd).all() and torch.isfinite(bwd).all()
    one, _ = est(frames[:, :1])
    assert one.shape == (2, 0, 2, 40, 72)


def test_frame_chunks_do_not_change_the_flows(net):
    whole, chunked = PWCFlow(frames_per_batch=8), PWCFlow(frames_per_batch=2)
    whole.net = chunked.net = net
    frames = torch.rand(1, 3, 3, 64, 64, generator=torch.Generator().manual_seed(6))
    with torch.no_grad():
        for a, b in zip(whole(frames), chunked(frames)):
            assert a.shape == (1, 2, 2, 64, 64)
            torch.testing.assert_close(a, b, rtol=1e-4, atol=1e-5)
    with pytest.raises(StbnError, match="frames_per_batch"):
        PWCFlow(frames_per_batch=1)


def test_resize_x20_rescale_and_pair_order(monkeypatch):
    """With a stub network whose 1/4-res output is (mean(first) - mean(second)) * (1, 2), the
    estimator must return 20 * that * (W/newW, H/newH) with fwd = PWC(x_t, x_{t-1})."""
    est = PWCFlow()

    def features(x):
        return [x.mean(dim=(1, 2, 3)).view(-1, 1, 1, 1).expand(-1, 2, x.shape[2] // 4, x.shape[3] // 4)] * 6

    def decode(first, second):
        d = first[0] - second[0]
        return torch.cat((d[:, :1], 2 * d[:, 1:]), dim=1)

    monkeypatch.setattr(est.net, "features", features)
    monkeypatch.setattr(est.net, "decode", decode)
    h, w = 40, 100  # resized to 64 x 128
    levels = torch.tensor([0.1, 0.4, 0.2]).view(1, 3, 1, 1, 1)
    frames = levels.expand(1, 3, 3, h, w).clone()
    fwd, bwd = est(frames)
    for t in (1, 2):
        d = float(levels[0, t] - levels[0, t - 1])
        torch.testing.assert_close(fwd[0, t - 1, 0], torch.full((h, w), 20 * d * w / 128))
        torch.testing.assert_close(fwd[0, t - 1, 1], torch.full((h, w), 2 * 20 * d * h / 64))
        torch.testing.assert_close(bwd[0, t - 1, 0], torch.full((h, w), -20 * d * w / 128))


def test_backwarp_follows_the_port_grid_convention():
    """The port: grid at align_corners=False pixel centres, flow normalised by (size - 1) / 2."""
    gen = torch.Generator().manual_seed(4)
    x = torch.randn(2, 5, 8, 12, generator=gen)
    flow = torch.randn(2, 2, 8, 12, generator=gen) * 1.5
    h, w = 8, 12
    gx = torch.linspace(-1 + 1 / w, 1 - 1 / w, w).view(1, w).expand(h, w) + flow[:, 0] * 2 / (w - 1)
    gy = torch.linspace(-1 + 1 / h, 1 - 1 / h, h).view(h, 1).expand(h, w) + flow[:, 1] * 2 / (h - 1)
    both = F.grid_sample(torch.cat((x, torch.ones(2, 1, h, w)), 1), torch.stack((gx, gy), -1), align_corners=False)
    ref = both[:, :-1] * (both[:, -1:] > 0.999)
    torch.testing.assert_close(backwarp(x, flow), ref, rtol=1e-5, atol=1e-5)


def test_backwarp_of_a_shift_and_its_border_mask():
    x = torch.randn(1, 3, 16, 16)
    flow = torch.zeros(1, 2, 16, 16)
    flow[:, 0] = 2.0 * 15 / 16  # an exact 2-pixel shift once stretched by w / (w - 1)
    out = backwarp(x, flow)
    torch.testing.assert_close(out[..., :-2], x[..., 2:])
    assert (out[..., -2:] == 0).all()


def test_gradients_reach_every_parameter():
    torch.manual_seed(5)
    est = PWCFlow()
    fwd, bwd = est(torch.rand(1, 2, 3, 64, 64))
    (fwd.square().mean() + bwd.abs().mean()).backward()
    assert all(p.grad is not None and p.grad.abs().sum() > 0 for p in est.parameters())


def test_missing_weights_file_is_a_clear_error(tmp_path):
    with pytest.raises(StbnError, match="not found"):
        build_flow("pwcnet", weights=tmp_path / "nope.pytorch")


def test_non_state_dict_files_are_clear_errors(tmp_path, net):
    garbage = tmp_path / "garbage.pytorch"
    garbage.write_bytes(b"this is not a checkpoint")
    with pytest.raises(StbnError, match="not a PyTorch state dict"):
        PWCFlow(weights=garbage)
    tensor_file = tmp_path / "tensor.pt"
    torch.save(torch.zeros(3), tensor_file)
    with pytest.raises(StbnError, match="dict of tensors"):
        PWCFlow(weights=tensor_file)
    other = tmp_path / "other.pt"
    torch.save(nn.Linear(2, 2).state_dict(), other)
    with pytest.raises(StbnError, match="sniklaus format"):
        PWCFlow(weights=other)
    wrong_shape = tmp_path / "shape.pt"
    state = to_port_state_dict(net.state_dict())
    state["moduleRefiner.moduleMain.12.bias"] = torch.zeros(3)
    torch.save(state, wrong_shape)
    with pytest.raises(StbnError, match="wrong tensor shape"):
        PWCFlow(weights=wrong_shape)
