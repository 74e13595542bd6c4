"""``speed.compile``: a compiled training step is the eager step (same loss, same update), on the same weights."""

from __future__ import annotations

import copy

import torch

from stbn.checkpoint import build_model
from stbn.config import load_config
from stbn.data.clips import Batch
from stbn.training.trainer import Trainer


def test_a_compiled_training_step_matches_the_eager_step() -> None:
    cfg = load_config("tiny", ["model.num_channels=4", "model.num_resblocks=1", "model.srfe_features=8",
                               "flow.estimator=none", "speed.compile=false"])
    torch.manual_seed(0)
    net = build_model(cfg)
    g = torch.Generator().manual_seed(1)
    clean = torch.rand(1, 3, 3, 16, 16, generator=g)
    sigma = torch.full((1, 1, 1, 1, 1), 30 / 255)
    batch = Batch(noisy=clean + sigma * torch.randn(clean.shape, generator=g), clean=None, sigma=sigma)

    eager = Trainer(cfg, copy.deepcopy(net))
    compiled = Trainer(cfg.model_copy(update={"speed": cfg.speed.model_copy(update={"compile": True})}), net)
    assert compiled.forward is not compiled.net and eager.forward is eager.net
    for step in range(2):
        loss_e, _ = eager.step(batch, step)
        loss_c, _ = compiled.step(batch, step)
        assert abs(loss_e - loss_c) <= 1e-4 * max(1.0, abs(loss_e))
    state = compiled.state_dict()["state_dict"]
    assert state.keys() == eager.state_dict()["state_dict"].keys()  # checkpoints hold the plain network
    for name, value in eager.state_dict()["state_dict"].items():
        torch.testing.assert_close(state[name], value, rtol=1e-4, atol=1e-5, msg=name)
