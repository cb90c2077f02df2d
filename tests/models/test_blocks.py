"""The shared blocks: masks, position schemes, norms, MLPs, pre/post-norm blocks."""

import math

import pytest
import torch

from lmforge.models.blocks.attention import CrossAttention, SelfAttention, padding_bias, reference_attention
from lmforge.models.blocks.mlp import MLP, GatedMLP
from lmforge.models.blocks.norms import RMSNorm, make_norm
from lmforge.models.blocks.positions import (
    RelativePositionBias,
    RotaryEmbedding,
    SinusoidalPositions,
    alibi_bias,
    alibi_slopes,
    rope_frequencies,
)
from lmforge.models.blocks.transformer_block import TransformerBlock


@pytest.fixture(autouse=True)
def _seed():
    torch.manual_seed(0)


def test_padding_bias_gives_padded_keys_zero_weight():
    keep = torch.tensor([[1, 1, 1, 0, 0]])
    q, k, v = torch.randn(1, 2, 5, 4), torch.randn(1, 2, 5, 4), torch.randn(1, 2, 5, 4)
    _, weights = reference_attention(q, k, v, causal=False, bias=padding_bias(keep))
    assert torch.all(weights[..., 3:] == 0)
    torch.testing.assert_close(weights.sum(-1), torch.ones(1, 2, 5))


@pytest.mark.parametrize("causal", [True, False])
def test_self_attention_paths_agree_with_bias_and_padding(causal):
    fast = SelfAttention(32, 4, n_kv_heads=2, causal=causal)
    slow = SelfAttention(32, 4, n_kv_heads=2, causal=causal, impl="reference")
    slow.load_state_dict(fast.state_dict())
    x = torch.randn(2, 6, 32)
    bias = alibi_bias(4, 6, 6) + padding_bias(torch.tensor([[1] * 6, [1] * 4 + [0] * 2]))
    torch.testing.assert_close(fast(x, bias=bias), slow(x, bias=bias), atol=1e-5, rtol=1e-5)


def test_cross_attention_paths_agree_and_ignore_padded_memory():
    fast, slow = CrossAttention(16, 2, scale=1.0), CrossAttention(16, 2, scale=1.0, impl="reference")
    slow.load_state_dict(fast.state_dict())
    x, memory = torch.randn(2, 3, 16), torch.randn(2, 7, 16)
    bias = padding_bias(torch.tensor([[1] * 7, [1] * 5 + [0] * 2]))
    torch.testing.assert_close(fast(x, memory, bias), slow(x, memory, bias), atol=1e-5, rtol=1e-5)
    changed = memory.clone()
    changed[1, 5:] += 100.0  # padded memory positions must not matter
    torch.testing.assert_close(fast(x, changed, bias)[1], fast(x, memory, bias)[1])


def test_rope_rotation_depends_only_on_distance():
    rope = RotaryEmbedding(8, theta=100.0)
    q, k = torch.randn(1, 1, 1, 8), torch.randn(1, 1, 1, 8)
    scores = []
    for start in (0, 5, 17):  # q at start+3, k at start: same distance 3
        q_rot, _ = rope(q.expand(1, 1, 4, 8).contiguous(), q.expand(1, 1, 4, 8).contiguous(), start)
        _, k_rot = rope(k.expand(1, 1, 4, 8).contiguous(), k.expand(1, 1, 4, 8).contiguous(), start)
        scores.append((q_rot[0, 0, 3] @ k_rot[0, 0, 0]).item())
    assert scores == pytest.approx([scores[0]] * 3, abs=1e-5)
    torch.testing.assert_close(rope(q, k, 0)[0], q)  # position 0: no rotation


def test_rope_matches_the_textbook_form_forward_and_backward():
    """x * cos + rotate_half(x) * sin (HF Llama's form), on strided q/k views of a fused projection as in the model."""
    rope = RotaryEmbedding(8, theta=100.0)
    qkv = torch.randn(2, 5, 3 * 2 * 8, requires_grad=True)  # (B, T, 3 * H * D), H = 2, D = 8
    q, k, _ = (t.view(2, 5, 2, 8).transpose(1, 2) for t in qkv.split(16, dim=-1))
    grad_q, grad_k = torch.randn(2, 2, 5, 8), torch.randn(2, 2, 5, 8)

    def textbook(x: torch.Tensor, start: int) -> torch.Tensor:
        cos, sin = rope.cos_sin(start, x.shape[-2], x.dtype)
        a, b = x.chunk(2, dim=-1)
        return x * cos + torch.cat([-b, a], dim=-1) * sin

    results = []
    for rotate in (lambda q, k: rope(q, k, start=3), lambda q, k: (textbook(q, 3), textbook(k, 3))):
        q_rot, k_rot = rotate(q, k)
        (q_rot * grad_q + k_rot * grad_k).sum().backward()
        results.append((q_rot.detach(), k_rot.detach(), qkv.grad.clone()))
        qkv.grad = None
    for ours, expected in zip(*results, strict=True):
        torch.testing.assert_close(ours, expected)


def test_rope_scaling():
    base = rope_frequencies(16, 10000.0)
    torch.testing.assert_close(rope_frequencies(16, 10000.0, {"rope_type": "linear", "factor": 4.0}), base / 4)
    llama3 = rope_frequencies(16, 10000.0, {"rope_type": "llama3", "factor": 8.0, "low_freq_factor": 1.0,
                                            "high_freq_factor": 4.0, "original_max_position_embeddings": 64})
    assert llama3[0] == base[0] and llama3[-1] == pytest.approx(base[-1] / 8)  # fast kept, slow slowed
    with pytest.raises(ValueError, match="unsupported"):
        rope_frequencies(16, 10000.0, {"rope_type": "yarn", "factor": 2.0})


def test_alibi_slopes_and_bias():
    assert alibi_slopes(8).tolist() == pytest.approx([2 ** -(i + 1) for i in range(8)])
    assert len(alibi_slopes(6)) == 6
    bias = alibi_bias(2, 2, 4)  # the 2 queries are positions 2 and 3
    assert bias[0, 0, 1].tolist() == pytest.approx([-0.0625 * d for d in (3, 2, 1, 0)])


def test_sinusoidal_table():
    table = SinusoidalPositions(10, 6)(0, 10)
    assert table[1, 0].item() == pytest.approx(math.sin(1.0))
    assert table[1, 1].item() == pytest.approx(math.cos(1.0))
    assert table[2, 2].item() == pytest.approx(math.sin(2 / 10000 ** (2 / 6)))


def test_relative_buckets():
    enc = RelativePositionBias(n_heads=2, n_buckets=32, max_distance=128, bidirectional=True)
    rel = torch.tensor([-3, 0, 3, 7, 8, 50, 1000, -1000])
    assert enc.bucket(rel).tolist() == [3, 0, 19, 23, 24, 29, 31, 15]
    dec = RelativePositionBias(n_heads=2, bidirectional=False)
    assert dec.bucket(torch.tensor([5, 0, -5, -1000])).tolist() == [0, 0, 5, 31]
    assert enc(3, 5).shape == (1, 2, 3, 5)


def test_norms():
    x = torch.randn(4, 10) * 3 + 1
    rms = RMSNorm(10, eps=0.0)(x)
    torch.testing.assert_close(rms.pow(2).mean(-1), torch.ones(4))
    ln = make_norm("layernorm", 10, 1e-5)(x)
    torch.testing.assert_close(ln.mean(-1), torch.zeros(4), atol=1e-5, rtol=0)


def test_gated_mlp_is_swiglu():
    mlp = GatedMLP(8, 12)
    x = torch.randn(3, 8)
    gate, up = mlp.gate_up.weight[:12], mlp.gate_up.weight[12:]
    expected = (torch.nn.functional.silu(x @ gate.t()) * (x @ up.t())) @ mlp.down.weight.t()
    torch.testing.assert_close(mlp(x), expected)


def test_pre_and_post_norm_blocks():
    def make(pre_norm):
        torch.manual_seed(1)
        return TransformerBlock(SelfAttention(16, 2), MLP(16, 32), make_norm("layernorm", 16, 1e-5),
                                make_norm("layernorm", 16, 1e-5), pre_norm=pre_norm)

    x = torch.randn(2, 5, 16) * 5
    post, pre = make(False)(x), make(True)(x)
    torch.testing.assert_close(post.mean(-1), torch.zeros(2, 5), atol=1e-5, rtol=0)  # ends with a norm
    assert pre.std() > 2  # pre-norm leaves the residual stream un-normalised


def test_rms_norm_hand_written_gradient_matches_autograd():
    norm = RMSNorm(6, eps=1e-5).double()
    norm.weight.data = torch.randn(6, dtype=torch.float64)
    x = torch.randn(2, 3, 6, dtype=torch.float64, requires_grad=True)
    torch.autograd.gradcheck(norm, (x,))
    textbook = x * torch.rsqrt(x.pow(2).mean(-1, keepdim=True) + 1e-5) * norm.weight
    grad = torch.randn_like(x)
    expected = torch.autograd.grad(textbook, (x, norm.weight), grad)
    torch.testing.assert_close(torch.autograd.grad(norm(x), (x, norm.weight), grad), expected)
    assert RMSNorm(6)(torch.randn(2, 6, dtype=torch.bfloat16)).dtype == torch.bfloat16
