"""Reformer: a decoder-only LM whose attention hashes instead of comparing every pair of tokens.

What changed from GPT, and why: full attention scores all T x T pairs, so its time and memory grow with
the square of the context. Reformer's LSH attention (:mod:`~lmforge.models.blocks.lsh`) sorts tokens by a
random-rotation hash of their shared query/key vector and attends only within chunks of that order, so
each layer costs O(T * chunk_length): long contexts become affordable, at the price of an approximation
(a relevant key in another bucket is missed; several hashing rounds make that rarer). Everything else is
GPT's pre-norm block, learned positions and tied embeddings.

Not built here: the paper's reversible residual layers (activations recomputed in the backward pass
instead of stored) and the local-attention layers HF's Reformer interleaves with LSH ones, and axial
position embeddings; so there is no HF checkpoint import (the LSH layer itself is checked against
transformers' ``LSHSelfAttention``). Without a KV cache the model trains and scores text; it does not
plug into the generation engine.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import nn

from lmforge.errors import ConfigError
from lmforge.models.base import ModelBase, check_dropout, check_positive, init_normal
from lmforge.models.blocks.lsh import LSHSelfAttention
from lmforge.models.blocks.mlp import MLP
from lmforge.models.blocks.positions import LearnedPositions
from lmforge.models.blocks.transformer_block import TransformerBlock

FAMILY = "reformer"


@dataclass
class ReformerConfig:
    vocab_size: int = 320
    context_length: int = 4096
    d_model: int = 256
    n_layers: int = 6
    n_heads: int = 4
    d_mlp: int | None = None  # default 4 * d_model
    n_buckets: int = 32  # hash buckets per round (even); about 2 * context_length / chunk_length
    n_hashes: int = 2  # hashing rounds
    chunk_length: int = 64  # each query reads its chunk and the one before
    dropout: float = 0.0

    def validate(self) -> None:
        check_positive(self, "vocab_size", "context_length", "d_model", "n_layers", "n_heads", "n_buckets",
                       "n_hashes", "chunk_length")
        if self.d_model % self.n_heads or self.n_buckets % 2:
            raise ConfigError(f"ReformerConfig: d_model={self.d_model} must divide by n_heads={self.n_heads} and "
                              f"n_buckets={self.n_buckets} must be even")
        check_dropout(self)


class Reformer(ModelBase):
    family = FAMILY
    config_class = ReformerConfig

    def __init__(self, config: ReformerConfig) -> None:
        super().__init__()
        config.validate()
        self.config = c = config
        self.tok_emb = nn.Embedding(c.vocab_size, c.d_model)
        self.pos_emb = LearnedPositions(c.context_length, c.d_model)
        self.drop = nn.Dropout(c.dropout)
        self.blocks = nn.ModuleList(
            TransformerBlock(
                attn=LSHSelfAttention(c.d_model, c.n_heads, c.n_buckets, c.n_hashes, c.chunk_length, causal=True,
                                      dropout=c.dropout),
                mlp=MLP(c.d_model, c.d_mlp or 4 * c.d_model, "gelu", dropout=c.dropout),
                norm1=nn.LayerNorm(c.d_model),
                norm2=nn.LayerNorm(c.d_model),
            )
            for _ in range(c.n_layers)
        )
        self.norm = nn.LayerNorm(c.d_model)
        self.lm_head = nn.Linear(c.d_model, c.vocab_size, bias=False)
        self.lm_head.weight = self.tok_emb.weight  # tied
        self.apply(init_normal)

    def forward(self, idx: torch.Tensor) -> torch.Tensor:
        """Token ids (B, T), T a multiple of chunk_length (or at most one chunk) -> next-token logits (B, T, V)."""
        x = self.drop(self.tok_emb(idx) + self.pos_emb(0, idx.shape[1]))
        for block in self.blocks:
            x = block(x)
        return self.lm_head(self.norm(x))
