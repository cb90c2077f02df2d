"""Llama-style decoder (Llama 2/3, SmolLM, Mistral).

Same skeleton as GPT, four swaps, each a block from ``blocks/``:
- RoPE instead of a position table (rotates q and k; no length limit baked into weights);
- RMSNorm instead of LayerNorm;
- a SwiGLU MLP instead of GELU;
- grouped-query attention: ``n_kv_heads < n_heads`` shrinks the KV cache.
No biases anywhere (unless ``attention_bias``: on q, k, v and the output projection). Loads HF
``LlamaForCausalLM`` checkpoints (``interop/hf_llama.py``) and GGUF files (``interop/gguf.py``).

PaLM-style block (Chowdhery et al. 2022): PaLM is this recipe (SwiGLU, RoPE, no biases) plus three
options, each a config field: ``n_kv_heads=1`` (multi-query attention: one key/value head shared by
all query heads, so the KV cache, which bounds decoding speed, is n_heads times smaller),
``tie_embeddings`` (one matrix for input and output embeddings) and ``parallel_block``
(attention and MLP side by side on one norm, see ``transformer_block.py``), e.g.
``LlamaConfig(n_kv_heads=1, tie_embeddings=True, parallel_block=True)``. HF Llama cannot hold a
parallel block, so such a model trains, generates and saves in lmforge but does not export.

Mistral (Jiang et al. 2023) is this model with ``sliding_window=W``: a token attends to itself and
the W - 1 tokens before it only (``blocks/sliding_window.py``). Attention costs O(T * W) instead of
O(T^2), the generation cache keeps W - 1 positions per layer however long the text, and stacked
layers still carry information from up to n_layers * (W - 1) tokens back. HF ``MistralForCausalLM``
round-trips through ``interop/hf_llama.py``.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import nn

from lmforge.errors import ConfigError
from lmforge.models.base import CausalLM, check_dropout, check_positive, init_normal
from lmforge.models.blocks.attention import AttentionImpl, SelfAttention
from lmforge.models.blocks.kv_cache import KVCache
from lmforge.models.blocks.mlp import GatedMLP
from lmforge.models.blocks.norms import RMSNorm
from lmforge.models.blocks.positions import RotaryEmbedding, rope_frequencies
from lmforge.models.blocks.sliding_window import SlidingWindowCache
from lmforge.models.blocks.transformer_block import TransformerBlock

FAMILY = "llama"


@dataclass
class LlamaConfig:
    vocab_size: int = 32000
    context_length: int = 2048
    d_model: int = 512
    n_layers: int = 8
    n_heads: int = 8
    n_kv_heads: int = 8  # < n_heads: grouped-query attention; 1: multi-query attention
    d_mlp: int = 1376  # SwiGLU has 3 matrices, so ~8/3 * d_model matches a 4x GELU MLP's size
    head_dim: int | None = None  # default d_model // n_heads
    rope_theta: float = 10000.0
    rope_scaling: dict | None = None  # {"rope_type": "linear" | "llama3", "factor": ..., ...}, as in HF
    norm_eps: float = 1e-5
    tie_embeddings: bool = False
    attention_bias: bool = False
    dropout: float = 0.0
    attention_impl: AttentionImpl = "sdpa"
    parallel_block: bool = False  # PaLM/GPT-J: x + attn(norm(x)) + mlp(norm(x))
    sliding_window: int | None = None  # Mistral: attend to the last sliding_window positions only

    def validate(self) -> None:
        check_positive(self, "vocab_size", "context_length", "d_model", "n_layers", "n_heads", "n_kv_heads", "d_mlp")
        if self.n_heads % self.n_kv_heads:
            raise ConfigError(f"LlamaConfig: n_heads={self.n_heads} is not divisible by n_kv_heads={self.n_kv_heads}")
        if self.head_dim is None and self.d_model % self.n_heads:
            raise ConfigError(f"LlamaConfig: d_model={self.d_model} is not divisible by n_heads={self.n_heads}")
        check_dropout(self)
        if self.sliding_window is not None:
            check_positive(self, "sliding_window")
        try:
            rope_frequencies(self.head_width, self.rope_theta, self.rope_scaling)
        except (KeyError, ValueError) as e:
            raise ConfigError(f"LlamaConfig.rope_scaling = {self.rope_scaling!r} is invalid: {e}") from None

    @property
    def head_width(self) -> int:
        return self.head_dim or self.d_model // self.n_heads


class Llama(CausalLM):
    family = FAMILY
    config_class = LlamaConfig
    checkpointable_blocks = True

    def __init__(self, config: LlamaConfig) -> None:
        super().__init__()
        config.validate()
        self.config = c = config
        self.tok_emb = nn.Embedding(c.vocab_size, c.d_model)
        rope = RotaryEmbedding(c.head_width, c.rope_theta, c.rope_scaling)  # one table, shared by every layer
        self.blocks = nn.ModuleList(
            TransformerBlock(
                attn=SelfAttention(c.d_model, c.n_heads, c.n_kv_heads, bias=c.attention_bias, dropout=c.dropout,
                                   impl=c.attention_impl, rope=rope, d_head=c.head_width, window=c.sliding_window),
                mlp=GatedMLP(c.d_model, c.d_mlp, "silu", dropout=c.dropout),
                norm1=RMSNorm(c.d_model, c.norm_eps),
                norm2=None if c.parallel_block else RMSNorm(c.d_model, c.norm_eps),
                parallel=c.parallel_block,
            )
            for _ in range(c.n_layers)
        )
        self.norm = RMSNorm(c.d_model, c.norm_eps)
        self.lm_head = nn.Linear(c.d_model, c.vocab_size, bias=False)
        if c.tie_embeddings:
            self.lm_head.weight = self.tok_emb.weight
        self.apply(init_normal)

    def kv_shape(self) -> tuple[int, int]:
        return self.config.n_kv_heads, self.config.head_width

    def new_cache(self, batch_size: int, max_len: int | None = None,
                  dtype: torch.dtype | None = None) -> KVCache | SlidingWindowCache:
        """With a sliding window, a cache that keeps only the window (its memory stays flat)."""
        if self.config.sliding_window is None:
            return super().new_cache(batch_size, max_len, dtype)
        return SlidingWindowCache(self.config.n_layers, self.config.sliding_window)

    def forward(self, idx: torch.Tensor, cache: KVCache | None = None) -> torch.Tensor:
        """Token ids (B, T) -> next-token logits (B, T, vocab_size)."""
        return self.lm_head(self.hidden(idx, cache))

    def hidden(self, idx: torch.Tensor, cache: KVCache | None = None) -> torch.Tensor:
        """Token ids (B, T) -> the final hidden states (B, T, C) that ``lm_head`` turns into logits."""
        x = self.tok_emb(idx)  # (B, T, C); positions enter inside attention, through RoPE
        for i, block in enumerate(self.blocks):
            x = self.run_block(block, x, cache, i)
        if cache is not None:
            cache.advance(idx.shape[1])
        return self.norm(x)
