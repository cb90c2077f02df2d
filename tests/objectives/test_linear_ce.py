"""Chunked output projection + cross-entropy: the same loss and gradients as the plain path."""

import pytest
import torch
import torch.nn.functional as F

from lmforge.models.gpt import GPT, GPTConfig
from lmforge.models.llama import Llama, LlamaConfig
from lmforge.objectives.clm import causal_lm_loss
from lmforge.objectives.linear_ce import linear_cross_entropy, plain_cross_entropy


def leaves(n: int = 37, c: int = 16, v: int = 50, seed: int = 0):
    g = torch.Generator().manual_seed(seed)
    hidden = torch.randn(n, c, generator=g, requires_grad=True)
    weight = (torch.randn(v, c, generator=g) * 0.3).requires_grad_()
    targets = torch.randint(0, v, (n,), generator=g)
    targets[::5] = -100  # ignored rows (prompt/padding in SFT)
    return hidden, weight, targets


def loss_and_grads(fn, **kw):
    hidden, weight, targets = leaves()
    loss = fn(hidden, weight, targets, **kw)
    loss.backward()
    return loss.detach(), hidden.grad, weight.grad


@pytest.mark.parametrize("chunk_rows", [1, 8, 37, 1000])  # 37 rows: chunks that do and do not divide it
def test_loss_and_gradients_equal_the_plain_path(chunk_rows):
    expected = loss_and_grads(plain_cross_entropy)
    got = loss_and_grads(linear_cross_entropy, chunk_rows=chunk_rows)
    for e, g in zip(expected, got, strict=True):
        torch.testing.assert_close(g, e, atol=1e-6, rtol=1e-5)


def test_a_scaled_loss_scales_the_gradients():
    hidden, weight, targets = leaves()
    (3.0 * linear_cross_entropy(hidden, weight, targets)).backward()
    _, plain_h, plain_w = loss_and_grads(plain_cross_entropy)
    torch.testing.assert_close(hidden.grad, 3.0 * plain_h, atol=1e-6, rtol=1e-5)
    torch.testing.assert_close(weight.grad, 3.0 * plain_w, atol=1e-6, rtol=1e-5)


def test_a_frozen_weight_still_passes_the_gradient_to_the_hidden_states():
    _, expected, _ = loss_and_grads(plain_cross_entropy)
    hidden, weight, targets = leaves()
    weight.requires_grad_(False)  # a frozen output layer, as under LoRA
    linear_cross_entropy(hidden, weight, targets).backward()
    torch.testing.assert_close(hidden.grad, expected, atol=1e-6, rtol=1e-5)


def test_without_grad_it_returns_the_loss_only():
    hidden, weight, targets = leaves()
    with torch.no_grad():
        loss = linear_cross_entropy(hidden, weight, targets)
    torch.testing.assert_close(loss, plain_cross_entropy(hidden, weight, targets).detach())
    assert not loss.requires_grad


def test_every_row_ignored_gives_zero_not_nan():
    hidden, weight, targets = leaves()
    loss = linear_cross_entropy(hidden, weight, torch.full_like(targets, -100))
    loss.backward()
    assert loss.item() == 0.0 and not hidden.grad.any() and not weight.grad.any()


def test_a_target_whose_probability_underflows_still_gets_its_exact_loss():
    hidden, weight, targets = leaves()
    hidden = (hidden.detach() * 60).requires_grad_()  # logits ~ +-100: many target probabilities < 1e-30
    probs = torch.softmax(F.linear(hidden, weight), dim=-1).gather(1, targets.clamp(min=0)[:, None])
    assert (probs < 1e-30).any()
    expected = plain_cross_entropy(hidden, weight, targets)
    got = linear_cross_entropy(hidden, weight, targets)
    assert torch.isfinite(got)
    torch.testing.assert_close(got, expected, atol=1e-4, rtol=1e-6)


def test_under_bf16_autocast_it_stays_close_to_the_plain_path():
    hidden, weight, targets = leaves(n=64, c=32, v=80)
    with torch.autocast("cpu", dtype=torch.bfloat16):
        fused = linear_cross_entropy(hidden, weight, targets)
        plain = F.cross_entropy(F.linear(hidden, weight).float(), targets)
    assert fused.dtype == torch.float32
    torch.testing.assert_close(fused, plain, atol=2e-2, rtol=1e-2)


@pytest.mark.parametrize("family", ["gpt", "llama"])
def test_causal_lm_loss_takes_the_fused_path_with_the_same_gradients(family, monkeypatch):
    torch.manual_seed(0)
    model = (GPT(GPTConfig(vocab_size=64, context_length=16, d_model=32, n_layers=2, n_heads=2, dropout=0.0))
             if family == "gpt" else
             Llama(LlamaConfig(vocab_size=64, context_length=16, d_model=32, n_layers=2, n_heads=4, n_kv_heads=2,
                               d_mlp=64, tie_embeddings=True)))  # fmt: skip
    ids = torch.randint(0, 64, (3, 16))
    batch = (ids[:, :-1], ids[:, 1:])

    causal_lm_loss(model, batch).backward()
    fused = {n: p.grad.clone() for n, p in model.named_parameters()}
    model.zero_grad()
    F.cross_entropy(model(batch[0]).flatten(0, 1), batch[1].flatten()).backward()
    for name, p in model.named_parameters():
        torch.testing.assert_close(fused[name], p.grad, atol=1e-6, rtol=1e-4, msg=name)

    calls = []
    monkeypatch.setattr("lmforge.objectives.clm.linear_cross_entropy",
                        lambda *a, **k: calls.append(1) or linear_cross_entropy(*a, **k))
    causal_lm_loss(model, batch)
    assert calls == [1]  # really the fused path, not the fallback
