"""Reformer's LSH attention: hashing and chunking properties, a plain reference, and parity with
transformers' ``LSHSelfAttention`` on the same fixed random rotations."""

import pytest
import torch

from lmforge.models.blocks.attention import reference_attention
from lmforge.models.blocks.lsh import LSHSelfAttention, hash_buckets


def test_hashing_depends_on_direction_only():
    torch.manual_seed(0)
    rotations = torch.randn(2, 8, 3, 4)  # 2 heads, D=8, 3 rounds, 8 buckets
    x = torch.randn(1, 2, 50, 8)
    buckets = hash_buckets(x, rotations)
    assert buckets.shape == (1, 2, 3, 50) and buckets.min() >= 0 and buckets.max() < 8
    assert torch.equal(hash_buckets(3.0 * x, rotations), buckets)  # length does not matter
    assert torch.equal(hash_buckets(-x, rotations), (buckets + 4) % 8)  # the opposite direction: the opposite bucket
    near = x + 1e-3 * torch.randn_like(x)
    assert (hash_buckets(near, rotations) == buckets).float().mean() > 0.95  # close vectors share buckets


def _layer(chunk, causal=True, n_hashes=2, n_buckets=4):
    torch.manual_seed(1)
    layer = LSHSelfAttention(16, 2, n_buckets, n_hashes, chunk, causal=causal).eval()
    with torch.no_grad():
        layer.proj.weight.copy_(torch.eye(16))
    return layer


def test_one_chunk_is_plain_attention_without_self():
    """A sequence within one chunk: ordinary (causal) attention over length-normalised keys, where a token
    reads itself only when there is nothing else (the first one)."""
    layer, x = _layer(chunk=16), torch.randn(2, 12, 16)
    qk = layer.qk(x).view(2, 12, 2, 8).transpose(1, 2)
    v = layer.v(x).view(2, 12, 2, 8).transpose(1, 2)
    keys = qk * torch.rsqrt(qk.pow(2).mean(-1, keepdim=True) + 1e-6) / 8**0.5
    self_bias = torch.eye(12) * -1e5
    expected = reference_attention(qk, keys, v, causal=True, bias=self_bias, scale=1.0)[0]
    with torch.no_grad():
        torch.testing.assert_close(layer(x), expected.transpose(1, 2).reshape(2, 12, 16), atol=1e-5, rtol=0)
        torch.testing.assert_close(layer(x)[:, 0], v[:, :, 0].reshape(2, 16), atol=1e-5, rtol=0)


def test_queries_read_only_their_chunk_and_the_one_before():
    """One hashing round and every vector in one bucket: the sorted order is the position order, so query i
    reads keys in its chunk and the previous chunk only: changing a value further back changes nothing."""
    layer, x = _layer(chunk=4, causal=False, n_hashes=1, n_buckets=2), torch.randn(1, 16, 16)
    rotations = torch.zeros(2, 8, 1, 1)  # all scores 0: argmax picks bucket 0 for every vector
    with torch.no_grad():
        base = layer(x, rotations=rotations)
        for changed_position, chunks_that_read_it in ((2, [0, 1]), (14, [3, 0])):  # the first wraps to the last
            changed = x.clone()
            changed[0, changed_position] += 1.0
            moved = (layer(changed, rotations=rotations) - base).abs().amax(-1)[0] > 1e-6  # (T,)
            assert moved.view(4, 4).all(1).tolist() == [i in chunks_that_read_it for i in range(4)]
            assert not moved.view(4, 4)[[i for i in range(4) if i not in chunks_that_read_it]].any()


def test_parity_with_transformers_lsh_self_attention():
    transformers = pytest.importorskip("transformers")
    from transformers.models.reformer.modeling_reformer import LSHSelfAttention as HFLSH

    config = transformers.ReformerConfig(hidden_size=16, num_attention_heads=2, attention_head_size=8, num_buckets=4,
                                         num_hashes=2, lsh_attn_chunk_length=8, lsh_num_chunks_before=1,
                                         lsh_num_chunks_after=0, is_decoder=True, hash_seed=7,
                                         lsh_attention_probs_dropout_prob=0.0)
    torch.manual_seed(0)
    hf = HFLSH(config, layer_idx=0).eval()
    ours = _layer(chunk=8)
    with torch.no_grad():
        ours.qk.weight.copy_(hf.query_key.weight)
        ours.v.weight.copy_(hf.value.weight)
        x = torch.randn(2, 32, 16)
        theirs = hf(x).hidden_states
        torch.manual_seed(7)  # the rotations HF draws from its hash_seed
        rotations = torch.randn(2, 8, 2, 2)
        torch.testing.assert_close(ours(x, rotations=rotations), theirs, atol=1e-5, rtol=0)


@pytest.mark.slow  # a tiny run whose loss falls; the parity and property tests stay in the default suite
def test_tiny_reformer_pretraining_lowers_the_validation_loss(char_data_dir, tmp_path):
    from tiny_pretraining import val_loss_before_after

    from lmforge.data.shards import load_meta
    from lmforge.models.reformer import Reformer, ReformerConfig
    from lmforge.objectives.clm import causal_lm_loss

    torch.manual_seed(0)
    model = Reformer(ReformerConfig(vocab_size=load_meta(char_data_dir).vocab_size, context_length=64, d_model=48,
                                    n_layers=2, n_heads=4, n_buckets=8, n_hashes=2, chunk_length=16))
    before, after = val_loss_before_after(model, char_data_dir, tmp_path, None, causal_lm_loss, 64)
    assert after < 0.75 * before, (before, after)
