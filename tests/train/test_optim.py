"""LAMB and Lion against their update rules written out per tensor; the LR schedules at key steps."""

import pytest
import torch
from torch import nn

from lmforge.errors import ConfigError
from lmforge.train.optim import Lamb, Lion
from lmforge.train.schedule import linear_lr, make_optimizer, scheduled_lr, wsd_lr


def _model() -> nn.Module:
    torch.manual_seed(0)
    # a zero bias exercises LAMB's trust ratio of 1 where ||w|| = 0
    model = nn.Sequential(nn.Linear(6, 5), nn.LayerNorm(5), nn.Linear(5, 3))
    nn.init.zeros_(model[0].bias)
    return model.float()


def _grads(step: int, params: list[torch.Tensor]) -> list[torch.Tensor]:
    """Deterministic, different gradients for each step (no model needed to compare update rules)."""
    g = torch.Generator().manual_seed(100 + step)
    return [torch.randn(p.shape, generator=g) for p in params]


def _run(optimizer: torch.optim.Optimizer, params: list[nn.Parameter], steps: int) -> None:
    for step in range(steps):
        for p, g in zip(params, _grads(step, params), strict=True):
            p.grad = g
        optimizer.step()


def test_lamb_matches_a_per_tensor_reference():
    model = _model()
    params = list(model.parameters())
    reference = [p.detach().clone() for p in params]
    lr, (b1, b2), eps, wd = 0.01, (0.9, 0.999), 1e-6, 0.1
    _run(Lamb(params, lr=lr, betas=(b1, b2), eps=eps, weight_decay=wd), params, steps=5)

    m = [torch.zeros_like(w) for w in reference]
    v = [torch.zeros_like(w) for w in reference]
    for step in range(5):
        t = step + 1
        for i, (w, g) in enumerate(zip(reference, _grads(step, reference), strict=True)):
            m[i] = b1 * m[i] + (1 - b1) * g
            v[i] = b2 * v[i] + (1 - b2) * g * g
            r = (m[i] / (1 - b1**t)) / (torch.sqrt(v[i] / (1 - b2**t)) + eps) + wd * w
            w_norm, r_norm = float(w.norm()), float(r.norm())
            trust = w_norm / r_norm if w_norm > 0 and r_norm > 0 else 1.0
            reference[i] = w - lr * trust * r
    for p, w in zip(params, reference, strict=True):
        torch.testing.assert_close(p.detach(), w, atol=1e-6, rtol=0)
    assert not torch.equal(params[1], torch.zeros_like(params[1]))  # the zero bias moved (trust ratio 1)


def test_lamb_moves_each_tensor_by_lr_times_its_own_norm():
    """The point of LAMB: with no decay, step 1 moves every non-zero tensor by exactly lr * ||w||."""
    model = _model()
    params = [p for p in model.parameters() if p.norm() > 0]
    before = [p.detach().clone() for p in params]
    _run(Lamb(params, lr=0.01), params, steps=1)
    for p, w in zip(params, before, strict=True):
        assert float((p.detach() - w).norm()) == pytest.approx(0.01 * float(w.norm()), rel=1e-4)


def test_lion_matches_the_papers_update_rule():
    model = _model()
    params = list(model.parameters())
    reference = [p.detach().clone() for p in params]
    lr, (b1, b2), wd = 1e-3, (0.9, 0.99), 0.5
    _run(Lion(params, lr=lr, betas=(b1, b2), weight_decay=wd), params, steps=5)

    m = [torch.zeros_like(w) for w in reference]
    for step in range(5):  # Chen et al. 2023, Algorithm 2
        for i, (w, g) in enumerate(zip(reference, _grads(step, reference), strict=True)):
            c = b1 * m[i] + (1 - b1) * g
            reference[i] = w - lr * (torch.sign(c) + wd * w)
            m[i] = b2 * m[i] + (1 - b2) * g
    for p, w in zip(params, reference, strict=True):
        torch.testing.assert_close(p.detach(), w, atol=1e-6, rtol=0)


@pytest.mark.parametrize("name,cls", [("adamw", torch.optim.AdamW), ("lamb", Lamb), ("lion", Lion),
                                      ("adafactor", torch.optim.Adafactor)])
def test_make_optimizer_by_name_keeps_the_decay_groups(name, cls):
    optimizer = make_optimizer(_model(), 1e-3, 0.1, (0.9, 0.95), name)
    assert isinstance(optimizer, cls)
    assert [g["weight_decay"] for g in optimizer.param_groups] == [0.1, 0.0]  # biases and norms undecayed


def test_make_optimizer_refuses_an_unknown_name():
    with pytest.raises(ConfigError, match="adamw, lamb, lion, adafactor, muon; got 'sgd'"):
        make_optimizer(_model(), 1e-3, 0.1, (0.9, 0.95), "sgd")


def test_linear_schedule_values():
    assert linear_lr(0.0, 1.0, 0.1, 0.1) == 0.0
    assert linear_lr(0.05, 1.0, 0.1, 0.1) == pytest.approx(0.5)  # half-way through warm-up
    assert linear_lr(0.1, 1.0, 0.1, 0.1) == pytest.approx(1.0)  # peak
    assert linear_lr(0.55, 1.0, 0.1, 0.1) == pytest.approx(0.55)  # half-way down the line
    assert linear_lr(1.0, 1.0, 0.1, 0.1) == pytest.approx(0.1)
    assert linear_lr(1.5, 1.0, 0.1, 0.1) == pytest.approx(0.1)  # past the end (a time budget overrun)


def test_wsd_schedule_warms_up_holds_then_decays_over_the_last_fraction():
    lr = [wsd_lr(p, 1.0, 0.0, 0.1, 0.2) for p in (0.05, 0.1, 0.5, 0.79, 0.8, 0.9, 1.0)]
    assert lr == pytest.approx([0.5, 1.0, 1.0, 1.0, 1.0, 0.5, 0.0])


def test_scheduled_lr_dispatches_by_name():
    assert scheduled_lr("cosine", 0.55, 1.0, 0.1, 0.1) == pytest.approx(0.55)  # cosine's midpoint, (1 + 0.1) / 2
    assert scheduled_lr("wsd", 0.9, 1.0, 0.0, 0.1, 0.2) == pytest.approx(0.5)
    assert scheduled_lr("cosine", 0.3, 1.0, 0.1, 0.1) != pytest.approx(scheduled_lr("linear", 0.3, 1.0, 0.1, 0.1))
    with pytest.raises(ConfigError, match="cosine, linear, wsd"):
        scheduled_lr("step", 0.5, 1.0, 0.1, 0.1)
    assert scheduled_lr("wsd", 0.5, 1.0, 0.1, 0.0, 1.0) == pytest.approx(0.55)  # no warm-up, all decay: linear
