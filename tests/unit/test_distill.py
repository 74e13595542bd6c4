"""Flow refinement: by distillation the student learns from the flow loss only, the teacher stays
frozen, the loss is gated by step, and the denoiser stays lattice-blind with the student estimating its
flows; with DIS, training steps re-estimate the flows on the pseudo-clean mean from start_step on."""

import math

import pytest
import torch

from stbn import STBN
from stbn.checkpoint import build_model
from stbn.config import load_config
from stbn.data.clips import Batch
from stbn.models.flow import DISFlow, PWCFlow
from stbn.models.losses import gaussian_nll
from stbn.training.distill import FlowDistillation, denoiser_parameters
from stbn.training.trainer import Trainer

SIGMA = 30 / 255


def tiny_net(flow) -> STBN:
    return STBN(3, num_channels=8, num_resblocks=1, srfe_blocks=1, flow=flow)


def snapshot(module: torch.nn.Module) -> dict[str, torch.Tensor]:
    return {k: v.detach().clone() for k, v in module.state_dict().items()}


@pytest.fixture(scope="module")
def noisy() -> torch.Tensor:
    return torch.rand(1, 2, 3, 64, 64, generator=torch.Generator().manual_seed(0))


def test_one_step_trains_the_student_and_leaves_the_teacher(noisy):
    torch.manual_seed(0)
    net = tiny_net(PWCFlow())
    distill = FlowDistillation(net.flow, reg=0.0, start_step=0)  # reg 0: gradients from the L1 terms alone
    teacher_before, student_before = snapshot(distill.teacher), snapshot(net.flow)
    opt = torch.optim.Adam([{"params": denoiser_parameters(net), "lr": 1e-3}] + distill.param_groups(lr=1e-5))
    out = net(noisy, noise_map=SIGMA)
    flow_loss = distill.loss(net.flow_frames(noisy), out[:, :, :3], step=0)
    assert flow_loss > 0
    # the flow loss reaches no denoiser parameter: mu is detached
    grads = torch.autograd.grad(flow_loss, denoiser_parameters(net), retain_graph=True, allow_unused=True)
    assert all(g is None for g in grads)
    (gaussian_nll(out, noisy, SIGMA) + flow_loss).backward()
    assert all(p.grad is not None and p.grad.abs().sum() > 0 for p in net.flow.parameters())
    assert all(p.grad is None and not p.requires_grad for p in distill.teacher.parameters())
    opt.step()
    after = snapshot(distill.teacher)
    assert all(torch.equal(after[k], v) for k, v in teacher_before.items())
    assert any(not torch.equal(net.flow.state_dict()[k], v) for k, v in student_before.items())
    assert not {id(p) for p in distill.teacher.parameters()} & {id(p) for p in net.flow.parameters()}


def test_gated_by_step_and_regulariser_value(noisy):
    torch.manual_seed(1)
    student = PWCFlow()
    distill = FlowDistillation(student, lam=5e-4, reg=4e-4, start_step=10)
    early = distill.loss(noisy, noisy, step=9)
    assert early == 0 and not early.requires_grad
    # teacher == student and mu == noisy: the L1 terms vanish and only lam * reg * sum ||theta|| remains
    norms = sum(float(p.detach().norm()) for p in student.parameters())
    assert float(distill.loss(noisy, noisy, step=10).detach()) == pytest.approx(5e-4 * 4e-4 * norms, rel=1e-5)


def test_teacher_state_round_trip():
    a = FlowDistillation(PWCFlow())
    b = FlowDistillation(PWCFlow())
    b.load_state_dict(a.state_dict())
    assert all(torch.equal(v, a.teacher.state_dict()[k]) for k, v in b.teacher.state_dict().items())


def test_weight_free_estimator_has_nothing_to_distill(noisy):
    distill = FlowDistillation(DISFlow(), start_step=0)
    assert distill.param_groups() == [] and not distill.active(10**6)
    assert distill.loss(noisy, noisy, step=10**6) == 0


class Recorder:
    """Wraps ``net.forward`` and ``net.flow.forward``, recording what they get and give."""

    def __init__(self, net: STBN, monkeypatch: pytest.MonkeyPatch) -> None:
        self.estimates: list[tuple[torch.Tensor, tuple[torch.Tensor, torch.Tensor]]] = []  # (frames, flows)
        self.passes: list[tuple[tuple[torch.Tensor, torch.Tensor], torch.Tensor]] = []  # (flows, output)
        estimate, forward = net.flow.forward, net.forward

        def recording_estimate(frames):
            flows = estimate(frames)
            self.estimates.append((frames.detach().clone(), flows))
            return flows

        def recording_forward(noisy, noise_map=None, flows=None):
            out = forward(noisy, noise_map=noise_map, flows=flows)
            self.passes.append((flows, out.detach().clone()))
            return out

        monkeypatch.setattr(net.flow, "forward", recording_estimate)
        monkeypatch.setattr(net, "forward", recording_forward)


@pytest.mark.parametrize("precomputed", [False, True], ids=["estimated", "precomputed-noisy-flows"])
def test_dis_training_step_reestimates_the_flows_on_the_pseudo_clean_mean(noisy, monkeypatch, precomputed):
    """Before start_step the step propagates with flows on the noisy frames; from it on, a first pass
    without gradient gives the mean, DIS runs again on it (detached, clamped) and the step uses those."""
    cfg = load_config("tiny", ["flow.estimator=dis", "flow.distill.enabled=true", "flow.distill.start_step=1"])
    assert cfg.flow.refinement == "reestimate"
    torch.manual_seed(0)
    net = build_model(cfg)
    trainer = Trainer(cfg, net)
    assert trainer.distill is None
    x = noisy.expand(2, -1, -1, -1, -1).contiguous() * 0.8 + 0.1
    noisy_flows = DISFlow()(x) if precomputed else None
    batch = Batch(noisy=x, clean=None, sigma=torch.full((2, 1, 1, 1, 1), SIGMA), flows=noisy_flows)
    rec = Recorder(net, monkeypatch)

    trainer.step(batch, step=0)
    assert len(rec.passes) == 1 and len(rec.estimates) == (0 if precomputed else 1)
    first_flows = noisy_flows if precomputed else rec.estimates[0][1]
    assert all(torch.equal(a, b) for a, b in zip(rec.passes[0][0], first_flows))

    rec.estimates.clear()
    rec.passes.clear()
    before = snapshot(net)
    loss, _ = trainer.step(batch, step=1)
    assert math.isfinite(loss) and any(not torch.equal(net.state_dict()[k], v) for k, v in before.items())
    t_len = x.shape[1]
    assert len(rec.passes) == 2 and len(rec.estimates) == (0 if precomputed else 1) + t_len - 1
    (pass1_flows, pass1_out), (final_flows, _) = rec.passes
    if not precomputed:
        assert torch.equal(rec.estimates[0][0], x)
        assert all(torch.equal(a, b) for a, b in zip(pass1_flows, rec.estimates[0][1]))
    pairs = rec.estimates[-(t_len - 1):]  # the mean's flows, estimated pair by pair
    mean = pass1_out[:, :, :3].clamp(0, 1)
    assert all(torch.equal(frames, mean[:, t : t + 2]) for t, (frames, _) in enumerate(pairs))
    assert not torch.equal(mean, x)
    for k in range(2):  # forward, backward
        assert torch.equal(final_flows[k], torch.cat([flows[k] for _, flows in pairs], dim=1))
    assert not all(torch.equal(a, b) for a, b in zip(final_flows, pass1_flows))


def test_denoiser_stays_lattice_blind_with_the_student_in_the_loop(noisy):
    """After a distillation step, flows come from the trained student; out[t, :, q] must have exactly
    zero gradient w.r.t. x_t at every (even, even) offset from q, and see the other pixels."""
    torch.manual_seed(2)
    net = tiny_net(PWCFlow())
    distill = FlowDistillation(net.flow, start_step=0)
    opt = torch.optim.Adam(distill.param_groups(lr=1e-3))
    distill.loss(noisy, noisy.flip(-2), step=0).backward()
    opt.step()
    queries = [(1, 31, 30), (0, 63, 0)]
    clip = noisy.expand(len(queries), -1, -1, -1, -1).clone().requires_grad_(True)
    out = net(clip, noise_map=SIGMA)
    total = sum(out[i, t, :, y, x].sum() for i, (t, y, x) in enumerate(queries))
    (grad,) = torch.autograd.grad(total, clip)
    yy, xx = torch.arange(64).view(-1, 1), torch.arange(64).view(1, -1)
    for i, (t, y, x) in enumerate(queries):
        sens = grad[i, t].abs().sum(0)
        lattice = ((yy - y) % 2 == 0) & ((xx - x) % 2 == 0)
        assert int((sens[lattice] != 0).sum()) == 0
        near = [(y + dy, x + dx) for dy, dx in ((0, 1), (-1, 0), (-1, 1)) if 0 <= y + dy < 64 and 0 <= x + dx < 64]
        assert near and all(sens[p] != 0 for p in near)
        assert int((sens[~lattice] != 0).sum()) > 200


def test_distillation_step_under_bf16_autocast(noisy):
    """The teacher sees the network's mean in the frames' dtype, not the bf16 of the autocast region."""
    cfg = load_config("tiny", ["flow.estimator=pwcnet", "flow.distill.enabled=true", "flow.distill.start_step=0",
                               "speed.precision=bf16"])
    torch.manual_seed(0)
    net = build_model(cfg)
    student_before = snapshot(net.flow)
    trainer = Trainer(cfg, net)
    loss, _ = trainer.step(Batch(noisy=noisy, clean=None, sigma=torch.full((1, 1, 1, 1, 1), SIGMA)), 0)
    assert math.isfinite(loss)
    assert any(not torch.equal(net.flow.state_dict()[k], v) for k, v in student_before.items())
