"""UDVD: the spec's parameter count, causal ops, clip/window/stream equivalence, the Gaussian head's fit
to the shared losses, dtype and batch discipline, and construction from the config's ``method``."""

from __future__ import annotations

import pytest
import torch

from stbn.checkpoint import build_model, load_model, save_checkpoint
from stbn.config import load_config
from stbn.errors import StbnError
from stbn.models import STBN, UDVD
from stbn.models.losses import gaussian_nll, posterior_mean, raw_l2
from stbn.models.udvd import BlindUNet
from stbn.ops import pad_to_square, rotate, shift_down, square_offset


def count(module: torch.nn.Module) -> int:
    return sum(p.numel() for p in module.parameters())


def small(**kw) -> UDVD:
    torch.manual_seed(0)
    return UDVD(width=4, triplet_features=4, **kw)


def test_spec_parameter_count():
    """UDVD_SPEC.md section 2.4: 2,132,208 for 3 channels at the published width, part by part."""
    net = UDVD(3)
    assert net.num_parameters() == 2_132_208
    assert count(net.triplet_net) == 889_488
    assert count(net.window_net) == 1_057_536
    assert count(net.mix) == 147_456 + 36_864 + 864


@pytest.mark.parametrize(("n", "o", "w"), [(9, 32, 48), (96, 96, 48), (12, 4, 8), (5, 7, 3)])
def test_unet_parameter_formula(n, o, w):
    """``9 (3 w n + 41 w^2 + 2 w o)``: the spec's ``9 (144 n + 96 o + 94,464)`` at w = 48."""
    assert count(BlindUNet(n, o, w)) == 9 * (3 * w * n + 41 * w * w + 2 * w * o)


def test_raw_model_size():
    net = UDVD(4)
    assert (net.head_kind, net.out_channels) == ("direct", 4)
    assert net.num_parameters() == 9 * (3 * 48 * 12 + 41 * 48 * 48 + 2 * 48 * 32) + 1_057_536 + 147_456 + 36_864 + 384


def test_causal_ops_by_hand():
    x = torch.arange(12.0).view(1, 1, 3, 4)
    assert torch.equal(shift_down(x), torch.tensor([[0.0] * 4, [0, 1, 2, 3], [4, 5, 6, 7]]).view(1, 1, 3, 4))
    sq = torch.arange(9.0).view(3, 3)
    s = 3
    turned = rotate(sq, 1)  # the spec's R90: out[i, j] = x[S-1-j, i]
    assert all(turned[i, j] == sq[s - 1 - j, i] for i in range(s) for j in range(s))
    assert all(rotate(sq, 3)[i, j] == sq[j, s - 1 - i] for i in range(s) for j in range(s))
    assert torch.equal(rotate(rotate(sq, 2), -2), sq)
    assert square_offset(36, 52) == (8, 0) and square_offset(52, 37) == (0, 7) and square_offset(5, 5) == (0, 0)
    frame = torch.rand(1, 2, 5, 8)
    padded = pad_to_square(frame)
    assert padded.shape == (1, 2, 8, 8) and torch.equal(padded[..., 1:6, :], frame)
    assert padded[..., :1, :].abs().sum() == 0 and padded[..., 6:, :].abs().sum() == 0
    assert torch.equal(pad_to_square(frame, "reflect")[..., 0, :], frame[..., 1, :])


@pytest.mark.parametrize("size", [(12, 12), (13, 10), (9, 17)])
def test_unet_is_vertically_causal(size):
    """Output row r depends on input rows <= r only (and on some row above it), at odd sizes too."""
    torch.manual_seed(0)
    unet = BlindUNet(2, 3, width=4).double()
    h, w = size
    x = torch.rand(h, 2, h, w, dtype=torch.float64, requires_grad=True)
    out = unet(x)
    torch.stack([out[r, :, r].sum() for r in range(h)]).sum().backward()
    rows = x.grad.abs().sum(dim=(1, 3))  # sample r holds row r's query: (H, H)
    below = torch.triu(torch.ones(h, h, dtype=torch.bool), diagonal=1)
    assert rows[below].abs().max() == 0
    assert all(rows[r, r] != 0 and (r == 0 or rows[r, r - 1] != 0) for r in range(h))


@pytest.mark.parametrize("t_len", [1, 2, 3, 5, 7])
def test_clip_is_the_windows_with_repeated_edges(t_len):
    net = small()
    x = torch.rand(2, t_len, 3, 11, 14)
    out = net(x)
    assert out.shape == (2, t_len, 9, 11, 14)
    for t in range(t_len):
        window = [min(max(t + k, 0), t_len - 1) for k in range(-2, 3)]
        assert torch.equal(net.window(x[:, window]), out[:, t])


def test_stream_reads_two_frames_ahead_and_holds_no_more():
    """Frame t's output comes once frame t+2 is read (at the end: at once); memory is flat in T."""
    net = small()
    x = torch.rand(1, 7, 3, 10, 12)
    read = []

    def frames():
        for t in range(7):
            read.append(t)
            yield x[:, t]

    outs = []
    for t, (noisy_t, out_t) in enumerate(net.stream(frames())):
        assert len(read) == min(t + 3, 7) and torch.equal(noisy_t, x[:, t])
        outs.append(out_t)
    assert torch.equal(torch.stack(outs, 1), net(x))
    assert list(net.stream(iter([]))) == []


def test_gaussian_head_feeds_the_shared_losses_and_every_parameter_learns():
    net = small()
    x = torch.rand(2, 4, 3, 12, 9)
    out = net(x)
    loss = gaussian_nll(out, x, 30 / 255)
    loss.backward()
    assert torch.isfinite(loss)
    missing = [n for n, p in net.named_parameters() if p.grad is None or not p.grad.abs().sum() > 0]
    assert missing == []
    assert posterior_mean(out.detach(), x, 30 / 255).shape == x.shape
    raw = small(in_channels=4)
    y = torch.rand(1, 3, 4, 8, 8)
    assert torch.isfinite(raw_l2(raw(y), y))


def test_dtype_and_batch_independence():
    net = small().double()
    x = torch.rand(3, 3, 3, 10, 13, dtype=torch.float64)
    out = net(x)
    assert out.dtype == torch.float64
    assert torch.allclose(net(x[1:2]), out[1:2], atol=1e-12)
    x.requires_grad_(True)
    (grad,) = torch.autograd.grad(net(x)[0].sum(), x)
    assert grad[1:].abs().max() == 0 and grad[0].abs().max() > 0  # no mixing of samples by the turns


def test_api_errors():
    net = small()
    with pytest.raises(ValueError, match="expects frames"):
        net(torch.rand(1, 2, 4, 8, 8))
    with pytest.raises(ValueError, match="expects frames"):
        net(torch.rand(2, 3, 8, 8))
    with pytest.raises(ValueError, match="at least 4 pixels"):
        net(torch.rand(1, 2, 3, 3, 3))
    with pytest.raises(ValueError, match="expects 5 frames"):
        net.window(torch.rand(1, 4, 3, 8, 8))
    with pytest.raises(ValueError):
        UDVD(in_channels=1)
    with pytest.raises(ValueError, match="square padding"):
        UDVD(square_pad="replicate")


def test_method_key_builds_the_network(tmp_path):
    assert load_config(None).method == "stbn" and isinstance(build_model(load_config(None)), STBN)
    cfg = load_config(None, ["method=udvd", "udvd.width=4", "udvd.triplet_features=4", "udvd.square_pad=reflect"])
    net = build_model(cfg)
    assert isinstance(net, UDVD) and net.square_pad == "reflect" and net.head_kind == "gaussian"
    raw = build_model(load_config("default-raw", ["method=udvd", "udvd.width=4"]))
    assert (raw.in_channels, raw.head_kind) == (4, "direct")
    path = save_checkpoint(tmp_path / "udvd.pt", {"step": 0, "config": cfg.model_dump(mode="json"),
                                                  "state_dict": net.state_dict()})
    loaded, saved, _ = load_model(path)
    x = torch.rand(1, 3, 3, 9, 12)
    with torch.no_grad():
        assert torch.equal(loaded(x), net.eval()(x)) and saved.method == "udvd"


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        (["method=bm3d"], r"method: Input should be 'stbn' or 'udvd'"),
        (["method=udvd", "flow.estimator=dis"], r"flow\.estimator: udvd aligns no frames"),
        (["method=udvd", "udvd.widht=8"], r"udvd\.widht: unknown key"),
        (["method=udvd", "udvd.width=0"], r"udvd\.width: Input should be greater than or equal to 1"),
        (["method=udvd", "infer.tile=64"], r"infer\.tile: udvd .* needs no tiles"),
        (["method=udvd", "infer.segment=4"], r"infer\.segment: udvd streams in one pass"),
    ],
)
def test_method_config_errors(overrides, message):
    with pytest.raises(StbnError, match=message):
        load_config(None, overrides)


def test_raw_udvd_needs_the_direct_head():
    with pytest.raises(StbnError, match=r"udvd\.head gaussian needs a known sigma"):
        load_config("default-raw", ["method=udvd", "udvd.head=gaussian"])
