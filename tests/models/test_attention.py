import pytest
import torch

from lmforge.models.blocks.attention import SelfAttention, causal_mask, fused_attention, reference_attention
from lmforge.models.blocks.kv_cache import KVCache


def test_causal_mask_is_lower_triangular_and_shifts_with_a_cache():
    assert torch.equal(causal_mask(3, 3), torch.tensor([[1, 0, 0], [1, 1, 0], [1, 1, 1]], dtype=torch.bool))
    # 2 new queries after 3 cached positions: query 0 is absolute position 3
    assert torch.equal(causal_mask(2, 5), torch.tensor([[1, 1, 1, 1, 0], [1, 1, 1, 1, 1]], dtype=torch.bool))


@pytest.mark.parametrize("t_query,t_key", [(7, 7), (1, 9), (3, 8)])
@pytest.mark.parametrize("causal", [True, False])
def test_reference_and_fused_attention_agree(t_query, t_key, causal):
    q = torch.randn(2, 3, t_query, 8)
    k, v = torch.randn(2, 3, t_key, 8), torch.randn(2, 3, t_key, 8)
    ref, weights = reference_attention(q, k, v, causal)
    torch.testing.assert_close(fused_attention(q, k, v, causal), ref, atol=1e-5, rtol=1e-5)
    torch.testing.assert_close(weights.sum(-1), torch.ones(2, 3, t_query))


def test_reference_weights_never_look_ahead():
    q, k, v = torch.randn(1, 2, 5, 4), torch.randn(1, 2, 5, 4), torch.randn(1, 2, 5, 4)
    _, weights = reference_attention(q, k, v, causal=True)
    assert torch.all(weights.triu(diagonal=1) == 0)


@pytest.mark.parametrize("n_kv_heads", [4, 2, 1])
def test_module_impls_agree_and_future_tokens_do_not_leak(n_kv_heads):
    fast = SelfAttention(32, 4, n_kv_heads=n_kv_heads, impl="sdpa")
    slow = SelfAttention(32, 4, n_kv_heads=n_kv_heads, impl="reference")
    slow.load_state_dict(fast.state_dict())
    x = torch.randn(2, 6, 32)
    torch.testing.assert_close(fast(x), slow(x), atol=1e-5, rtol=1e-5)
    changed = x.clone()
    changed[:, -1] += 10.0  # changing the last token must not change earlier outputs
    torch.testing.assert_close(fast(changed)[:, :-1], fast(x)[:, :-1])
    assert not torch.allclose(fast(changed)[:, -1], fast(x)[:, -1])


def test_cached_attention_equals_full_attention():
    attn = SelfAttention(16, 2, impl="sdpa")
    x = torch.randn(1, 7, 16)
    full = attn(x)
    cache = KVCache(1, 1, 2, 8, max_len=16)
    pieces = []
    for chunk in (x[:, :3], x[:, 3:4], x[:, 4:7]):  # a prefill, one step, then several tokens at once
        pieces.append(attn(chunk, cache, 0))
        cache.advance(chunk.shape[1])
    torch.testing.assert_close(torch.cat(pieces, dim=1), full, atol=1e-5, rtol=1e-5)


def test_cache_overflow_is_a_clear_error():
    cache = KVCache(1, 1, 1, 4, max_len=2)
    with pytest.raises(Exception, match="context length 2"):
        cache.update(0, torch.zeros(1, 1, 3, 4), torch.zeros(1, 1, 3, 4))


def test_bad_head_counts_rejected():
    with pytest.raises(ValueError, match="divide"):
        SelfAttention(30, 4)
