"""GPT's speedrun options (docs/speedrun.md): RoPE, QK-norm, ReLU², init scale and zero-init outputs."""

import math

import pytest
import torch
import torch.nn.functional as F

from lmforge.errors import ConfigError
from lmforge.interop.hf_gpt2 import to_hf_config
from lmforge.models.blocks.mlp import activation_fn
from lmforge.models.gpt import GPT, GPTConfig

SMALL = dict(vocab_size=40, context_length=24, d_model=32, n_layers=2, n_heads=4)


def _gpt(seed: int = 0, **options) -> GPT:
    torch.manual_seed(seed)
    return GPT(GPTConfig(**SMALL, **options)).eval()


def test_relu2_is_relu_squared():
    x = torch.linspace(-3, 3, 61)
    torch.testing.assert_close(activation_fn("relu2")(x), torch.where(x > 0, x * x, torch.zeros_like(x)))


def test_rope_gpt_has_no_position_table_and_its_cache_matches_the_full_pass():
    model = _gpt(position="rope")
    assert model.pos_emb is None and model.num_parameters() == _gpt().num_parameters() - 24 * 32
    idx = torch.randint(0, 40, (2, 20))
    with torch.no_grad():
        full = model(idx)
        cache = model.new_cache(2, 24)
        stepped = torch.cat([model(idx[:, :13], cache), model(idx[:, 13:14], cache), model(idx[:, 14:], cache)], 1)
    assert full.shape == (2, 20, 40)
    torch.testing.assert_close(stepped, full, atol=1e-5, rtol=1e-5)


def test_rope_gpt_sees_distances_only():
    """Every layer rotates q and k with one shared RoPE, under which q.k depends on the distance only."""
    model = _gpt(position="rope")
    rope = model.blocks[0].attn.rope
    assert rope is not None and all(block.attn.rope is rope for block in model.blocks)
    q, k = torch.randn(1, 4, 8, 8), torch.randn(1, 4, 8, 8)
    q0, k0 = rope(q, k, start=0)
    q5, k5 = rope(q, k, start=5)  # the same tokens, 5 positions later
    torch.testing.assert_close(q0 @ k0.mT, q5 @ k5.mT, atol=1e-5, rtol=1e-5)
    assert not torch.allclose(q0, q5)


def test_qk_norm_makes_attention_blind_to_the_scale_of_q_and_k():
    """Scaling the q and k projections changes nothing once each head is RMS-normalized (and does without)."""
    for qk_norm, same in ((True, True), (False, False)):
        model = _gpt(qk_norm=qk_norm)
        idx = torch.randint(0, 40, (2, 16))
        with torch.no_grad():
            before = model(idx)
            for block in model.blocks:
                block.attn.qkv.weight[: 2 * 32].mul_(7.0)  # q and k rows (v untouched)
                block.attn.qkv.bias[: 2 * 32].mul_(7.0)
            after = model(idx)
        assert torch.allclose(before, after, atol=1e-4) == same
    assert sum(p.numel() for n, p in _gpt(qk_norm=True).named_parameters() if "_norm" in n) == 2 * 2 * 8


def test_zero_init_outputs_starts_every_block_as_the_identity():
    model = _gpt(zero_init_outputs=True, tie_embeddings=False)
    for block in model.blocks:
        assert not block.attn.proj.weight.any() and not block.mlp.down.weight.any()
    idx = torch.randint(0, 40, (2, 16))
    logits = model(idx)
    assert not logits.any()  # a zero head: uniform predictions, loss ln(V)
    assert F.cross_entropy(logits.flatten(0, 1), idx.flatten()).item() == pytest.approx(math.log(40))
    tied = _gpt(zero_init_outputs=True)
    assert tied.lm_head.weight.any()  # the tied head is the embedding, which must not be zero


def test_init_std_scales_the_normal_init():
    wide = _gpt(init_std=0.1)
    assert wide.blocks[0].attn.qkv.weight.std().item() == pytest.approx(0.1, rel=0.1)
    assert wide.blocks[0].mlp.down.weight.std().item() == pytest.approx(0.1 / 2, rel=0.1)  # / sqrt(2 n_layers)
    with pytest.raises(ConfigError, match="init_std"):
        GPTConfig(**SMALL, init_std=0.0).validate()


@pytest.mark.parametrize("options", [dict(qk_norm=True), dict(activation="relu2"), dict(position="rope")])
def test_options_hf_gpt2_cannot_hold_are_refused_on_export(options):
    with pytest.raises(ConfigError, match="cannot be exported"):
        to_hf_config(GPTConfig(**SMALL, **options))
    to_hf_config(GPTConfig(**SMALL, zero_init_outputs=True, init_std=0.01))  # init options export as usual
