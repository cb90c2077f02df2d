"""Muon: Newton-Schulz against the SVD's polar factor, one step against the formula, AdamW groups against torch."""

import math

import pytest
import torch

from lmforge.errors import ConfigError
from lmforge.models.gpt import GPT, GPTConfig
from lmforge.train.optim import NS_COEFFICIENTS, Muon, newton_schulz
from lmforge.train.schedule import make_optimizer


def _well_conditioned(rows: int, cols: int, seed: int = 0) -> torch.Tensor:
    """U diag(s) V^T with singular values spread over [1, 2]."""
    gen = torch.Generator().manual_seed(seed)
    u, _ = torch.linalg.qr(torch.randn(rows, min(rows, cols), generator=gen, dtype=torch.float64))
    v, _ = torch.linalg.qr(torch.randn(cols, min(rows, cols), generator=gen, dtype=torch.float64))
    s = torch.linspace(1.0, 2.0, min(rows, cols), dtype=torch.float64)
    return (u * s) @ v.T


def _reference_ns(g: torch.Tensor, steps: int = 5) -> torch.Tensor:
    """The same polynomial applied to the singular values themselves: U p(S / ||g||_F) V^T."""
    a, b, c = NS_COEFFICIENTS
    u, s, vh = torch.linalg.svd(g.double(), full_matrices=False)
    s = s / g.double().norm()
    for _ in range(steps):
        s = a * s + b * s**3 + c * s**5
    return ((u * s) @ vh).to(g.dtype)


@pytest.mark.parametrize("shape", [(48, 24), (24, 48), (32, 32)])
def test_newton_schulz_approaches_the_polar_factor(shape):
    g = _well_conditioned(*shape).float()
    x = newton_schulz(g)
    u, _, vh = torch.linalg.svd(g.double(), full_matrices=False)
    polar = u @ vh  # the nearest orthogonal matrix to g
    singular = torch.linalg.svdvals(x.double())
    assert singular.min() > 0.6 and singular.max() < 1.25  # Keller Jordan's coefficients: ~[0.7, 1.2]
    assert torch.linalg.matrix_norm(x.double() - polar, ord=2) < 0.35
    in_g_basis = u.T @ x.double() @ vh.T  # same singular vectors as g: diagonal in g's bases
    assert (in_g_basis - torch.diag(torch.diagonal(in_g_basis))).abs().max() < 1e-4
    torch.testing.assert_close(x, _reference_ns(g), atol=1e-4, rtol=1e-4)


def test_one_muon_step_is_the_formula():
    torch.manual_seed(0)
    w0 = torch.randn(12, 6)
    grads = [torch.randn(12, 6), torch.randn(12, 6)]
    w = torch.nn.Parameter(w0.clone())
    lr, mu, wd = 0.05, 0.9, 0.1
    opt = Muon([w], lr=lr, momentum=mu, weight_decay=wd)
    expected, m = w0.clone(), torch.zeros(12, 6)
    for g in grads:
        w.grad = g.clone()
        opt.step()
        m = mu * m + (1 - mu) * g
        nesterov = (1 - mu) * g + mu * m
        expected = expected * (1 - lr * wd) - lr * math.sqrt(12 / 6) * _reference_ns(nesterov)
    torch.testing.assert_close(w.detach(), expected, atol=1e-5, rtol=1e-5)


def test_the_adamw_groups_match_torch_adamw():
    torch.manual_seed(0)
    ours = [torch.nn.Parameter(torch.randn(5)), torch.nn.Parameter(torch.randn(7, 3))]
    theirs = [torch.nn.Parameter(p.detach().clone()) for p in ours]
    kwargs = dict(lr=0.01, betas=(0.9, 0.95), eps=1e-8, weight_decay=0.1)
    muon = Muon([{"params": ours, "use_muon": False}], **kwargs)
    adamw = torch.optim.AdamW(theirs, **kwargs)
    for _ in range(3):
        grads = [torch.randn_like(p) for p in ours]
        for p, q, g in zip(ours, theirs, grads, strict=True):
            p.grad, q.grad = g.clone(), g.clone()
        muon.step()
        adamw.step()
    for p, q in zip(ours, theirs, strict=True):
        torch.testing.assert_close(p, q)


def test_muon_takes_the_blocks_matrices_and_adamw_the_rest():
    model = GPT(GPTConfig(vocab_size=20, context_length=8, d_model=16, n_layers=2, n_heads=2, tie_embeddings=False))
    opt = make_optimizer(model, 1e-3, 0.1, (0.9, 0.95), "muon", muon_lr=0.02)
    names = {id(p): n for n, p in model.named_parameters()}
    on_muon = {names[id(p)] for g in opt.param_groups if g["use_muon"] for p in g["params"]}
    assert on_muon == {n for n in names.values() if n.endswith((".qkv.weight", ".proj.weight", ".up.weight",
                                                                 ".down.weight"))}
    (group,) = [g for g in opt.param_groups if g["use_muon"]]
    assert group["lr_scale"] == pytest.approx(20.0)  # the Trainer's lr 1e-3 peaks at 0.02 on the matrices
    assert sum(p.numel() for g in opt.param_groups for p in g["params"]) == model.num_parameters()
    with pytest.raises(ValueError, match="2-D"):
        Muon([torch.nn.Parameter(torch.zeros(3))])


def test_the_trainer_runs_muon_at_its_own_lr(char_data_dir, tmp_path):
    from lmforge.data.sampler import RandomWindowSampler
    from lmforge.data.shards import open_shards
    from lmforge.train.trainer import TrainConfig, Trainer

    torch.manual_seed(0)
    model = GPT(GPTConfig(vocab_size=66, context_length=16, d_model=32, n_layers=2, n_heads=2))
    train = RandomWindowSampler(open_shards(char_data_dir, "train"), 16, 4, seed=0)
    config = TrainConfig(max_steps=3, warmup_steps=1, lr=1e-3, min_lr=1e-3, muon_lr=0.05, optimizer="muon",
                         precision="fp32", checkpoint_interval=100)
    trainer = Trainer(model, config, train, tmp_path)
    before = model.blocks[0].mlp.up.weight.detach().clone()
    trainer.fit()
    lrs = {g["use_muon"]: g["lr"] for g in trainer.optimizer.param_groups}
    assert lrs == {True: pytest.approx(0.05), False: pytest.approx(1e-3)}
    assert not torch.equal(before, model.blocks[0].mlp.up.weight)
    with pytest.raises(ConfigError, match="muon_lr"):
        TrainConfig(muon_lr=0.0).validate()
