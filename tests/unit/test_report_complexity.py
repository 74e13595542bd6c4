"""Parameter and multiply-accumulate counts: hand-computed convolutions and the published model size."""

from __future__ import annotations

import pytest
import torch
import torch.nn as nn

from stbn.config import preset
from stbn.models import STBN
from stbn.report.complexity import count_macs, frame_costs


def test_hooks_count_plain_grouped_and_transposed_convolutions() -> None:
    net = nn.Sequential(
        nn.Conv2d(4, 8, 3, padding=1),  # 8 * 10*10 outputs * 4 inputs * 9 taps = 28,800
        nn.Conv2d(8, 8, 3, padding=2, dilation=2, groups=2),  # 8*100 * 4 * 9 = 28,800
        nn.ConvTranspose2d(8, 2, 4, stride=2, padding=1),  # 8*100 inputs * 2 * 16 = 25,600
    )
    x = torch.zeros(1, 4, 10, 10)
    assert count_macs(net, lambda: net(x)) == 28_800 + 28_800 + 25_600
    assert count_macs(net, lambda: None) == 0  # hooks are removed and do not leak between counts


def test_published_size_and_cost_scale_with_pixels() -> None:
    cfg = preset("paper-srgb")
    costs = frame_costs(cfg, (64, 64))
    assert costs["params"] == 9_138_112 == STBN().num_parameters()
    assert costs["flow params"] == 0 and costs["flow GMAC/frame"] == 0.0
    # every convolution's cost is per output pixel: 4x the pixels (sizes multiples of 4) is 4x the cost
    assert frame_costs(cfg, (128, 128))["GMAC/frame"] == pytest.approx(4 * costs["GMAC/frame"])
    # one frame costs about parameters x pixels (SRFE at half resolution): a sanity bound
    assert 0.1 * 9.1e6 * 64 * 64 / 1e9 < costs["GMAC/frame"] < 9.2e6 * 64 * 64 / 1e9


def test_ablation_switches_lower_the_cost() -> None:
    full = frame_costs(preset("tiny"), (32, 32))
    cfg = preset("tiny")
    cfg.model.srfe = False
    cfg.model.bsa_fusion = False
    lean = frame_costs(cfg, (32, 32))
    assert lean["params"] < full["params"] and lean["GMAC/frame"] < full["GMAC/frame"]


def test_udvd_size_and_sliding_window_cost() -> None:
    from stbn.config import load_config
    from stbn.models.udvd import UDVD

    costs = frame_costs(load_config(None, ["method=udvd"]), (64, 64))
    assert costs["params"] == 2_132_208
    assert costs["flow params"] is None and costs["flow GMAC/frame"] is None
    net = UDVD().to("meta")
    window = torch.zeros(1, 5, 3, 64, 64, device="meta")
    from_scratch = count_macs(net, lambda: net.window(window)) / 1e9  # three triplet encodings per window
    assert costs["GMAC/frame"] < from_scratch < 2 * costs["GMAC/frame"]
