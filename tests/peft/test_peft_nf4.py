"""NF4 / QLoRA: the level table and codes equal bitsandbytes', the dequantization error stays within
its bound, and LoRA on top of a 4-bit model trains."""

from __future__ import annotations

import pytest
import torch

from lmforge.models.gpt import GPT, GPTConfig
from lmforge.objectives.clm import causal_lm_loss
from lmforge.peft import NF4, LoraConfig, NF4Linear, apply_lora, count_parameters, quantize_model
from lmforge.peft.nf4 import MAX_HALF_GAP, dequantize_absmax, dequantize_nf4, quantize_nf4

# bitsandbytes' NF4 table (bitsandbytes/functional.py, get_4bit_type("nf4")), as printed by bitsandbytes 0.50.2
BNB_NF4 = [-1.0, -0.6961928009986877, -0.5250730514526367, -0.39491748809814453, -0.28444138169288635,
           -0.18477343022823334, -0.09105003625154495, 0.0, 0.07958029955625534, 0.16093020141124725,
           0.24611230194568634, 0.33791524171829224, 0.44070982933044434, 0.5626170039176941,
           0.7229568362236023, 1.0]


def test_levels_derived_from_normal_quantiles_equal_bitsandbytes_table():
    assert NF4.shape == (16,)
    assert torch.allclose(NF4, torch.tensor(BNB_NF4), atol=2e-7, rtol=0)
    assert pytest.approx((1.0 - 0.6961928009986877) / 2, abs=1e-6) == MAX_HALF_GAP  # widest gap: -1 .. -0.696


def test_codes_and_dequantized_values_equal_bitsandbytes():
    bnb = pytest.importorskip("bitsandbytes.functional")
    assert torch.allclose(NF4, bnb.get_4bit_type("nf4", device="cpu"), atol=2e-7, rtol=0)
    w = torch.randn(48, 128, generator=torch.Generator().manual_seed(0))
    ours = quantize_nf4(w, block_size=64)
    codes, state = bnb.quantize_4bit(w, blocksize=64, quant_type="nf4")
    assert torch.equal(ours["codes"], codes.flatten())
    assert torch.allclose(ours["absmax"], state.absmax)
    assert torch.allclose(dequantize_nf4(ours, w.shape), bnb.dequantize_4bit(codes, state), atol=1e-6)


@pytest.mark.parametrize("double_quant", [False, True])
def test_dequantization_error_within_the_bound(double_quant):
    # heavy-tailed weights with per-row scales, so blocks differ widely in absmax
    g = torch.Generator().manual_seed(1)
    w = torch.distributions.StudentT(3.0).sample((64, 256)) * torch.rand(64, 1, generator=g)
    state = quantize_nf4(w, block_size=64, double_quant=double_quant)
    err = (dequantize_nf4(state, w.shape) - w).abs().view(-1, 64)  # (n_blocks, 64)
    absmax = w.abs().view(-1, 64).amax(dim=1)
    # |w - NF4[c] * a_hat| <= |w - NF4[c] * a| + |a - a_hat|, |NF4[c]| <= 1
    absmax_err = (dequantize_absmax(state) - absmax).abs()
    bound = absmax * MAX_HALF_GAP + absmax_err + 1e-6
    assert (err <= bound[:, None]).all()
    if double_quant:  # 8-bit absmaxes: error at most half a step of each 256-block's scale
        assert absmax_err.max() <= state["absmax_scale"].max() / 2 + 1e-6
        assert state["absmax_q"].dtype == torch.int8


@pytest.mark.parametrize("double_quant", [False, True])
def test_relative_rms_error_on_normal_weights(double_quant):
    w = torch.randn(64, 256, generator=torch.Generator().manual_seed(1))
    w_hat = dequantize_nf4(quantize_nf4(w, block_size=64, double_quant=double_quant), w.shape)
    rel_rms = (w_hat - w).pow(2).mean().sqrt() / w.pow(2).mean().sqrt()
    assert rel_rms < 0.095  # measured 0.0918 with and without 8-bit absmaxes


def test_qlora_trains_lora_on_a_frozen_4bit_model():
    torch.manual_seed(0)
    model = GPT(GPTConfig(vocab_size=64, context_length=16, d_model=64, n_layers=2, n_heads=4))
    full_total = count_parameters(model)[1]
    quantized = quantize_model(model, double_quant=True)
    assert len(quantized) == 8 and isinstance(model.blocks[0].attn.qkv, NF4Linear)
    apply_lora(model, LoraConfig(r=4, alpha=8, target_modules=["qkv", "proj", "up", "down"]))
    trainable, total = count_parameters(model)
    assert total == full_total + trainable
    codes_before = model.blocks[0].attn.qkv.base_layer.codes.clone()
    opt = torch.optim.AdamW([p for p in model.parameters() if p.requires_grad], lr=1e-2)
    x = torch.randint(0, 64, (4, 16), generator=torch.Generator().manual_seed(3))
    batch = (x, torch.roll(x, -1, dims=1))
    losses = []
    for _ in range(30):
        loss = causal_lm_loss(model, batch)
        loss.backward()
        opt.step()
        opt.zero_grad()
        losses.append(loss.item())
    assert losses[-1] < losses[0] - 0.5
    assert torch.equal(model.blocks[0].attn.qkv.base_layer.codes, codes_before)


def test_nf4_linear_gradients_equal_a_plain_linear_with_the_dequantized_weight():
    torch.manual_seed(0)
    linear = torch.nn.Linear(128, 64)
    layer = NF4Linear(linear, double_quant=True)
    plain = torch.nn.Linear(128, 64)
    with torch.no_grad():
        plain.weight.copy_(layer.dequantize())
        plain.bias.copy_(linear.bias)
    x1 = torch.randn(3, 5, 128, requires_grad=True)
    x2 = x1.detach().clone().requires_grad_(True)
    y1, y2 = layer(x1), plain(x2)
    assert torch.allclose(y1, y2, atol=1e-5)
    y1.square().sum().backward()
    y2.square().sum().backward()
    assert torch.allclose(x1.grad, x2.grad, atol=1e-4)
