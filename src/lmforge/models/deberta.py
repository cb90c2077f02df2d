"""DeBERTa-v2/v3: a BERT whose attention keeps content and position apart.

What changed from BERT, and why:
- *disentangled attention* (:mod:`~lmforge.models.blocks.disentangled`): instead of adding absolute
  positions to the input once, every layer scores query i against key j with content -> content,
  content -> relative position (c2p) and relative position -> content (p2c) terms. Attention then
  depends on *how far apart* two tokens are, which generalises across positions and lengths;
  distances are bucketed logarithmically (``position_buckets``) so far tokens share parameters;
- absolute positions are optional (``position_biased_input``; off in DeBERTa-v3) and token types
  too (``type_vocab_size=0``);
- the MLM head (HF ``DebertaV2ForMaskedLM``, which the paper calls part of its *enhanced mask
  decoder*) is BERT's: dense -> GELU -> LayerNorm -> the tied embedding matrix + a bias. The
  paper's extra decoder pass that re-injects absolute positions just before the head
  (``z_steps`` in HF) is off in every HF checkpoint, so it is not built here.

Blocks are BERT's post-norm blocks; only the attention module differs.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

import torch
import torch.nn.functional as F
from torch import nn

from lmforge.errors import ConfigError
from lmforge.models.base import Capability, ModelBase, check_dropout, check_positive, init_normal, mean_pool
from lmforge.models.blocks.attention import optional_padding_bias
from lmforge.models.blocks.disentangled import DisentangledSelfAttention, RelativeEmbeddings
from lmforge.models.blocks.mlp import MLP, Activation, activation_fn
from lmforge.models.blocks.positions import LearnedPositions
from lmforge.models.blocks.transformer_block import TransformerBlock

FAMILY = "deberta"


@dataclass
class DebertaConfig:
    vocab_size: int = 128100
    context_length: int = 512
    d_model: int = 768
    n_layers: int = 12
    n_heads: int = 12
    d_mlp: int = 3072
    type_vocab_size: int = 0  # 0: no token-type embeddings
    embedding_dim: int | None = None  # embeddings narrower than d_model, projected up (no bias); default d_model
    relative_attention: bool = True
    position_terms: Literal["", "c2p", "p2c", "c2p|p2c"] = "c2p|p2c"
    position_buckets: int = 256  # 0: one embedding per distance up to max_relative
    max_relative: int | None = None  # default context_length
    share_att_key: bool = True  # position keys/queries come from the content projections (v3)
    norm_relative: bool = True  # LayerNorm on the relative-position table (v3)
    position_biased_input: bool = False  # also add absolute position embeddings at the input
    activation: Activation = "gelu"
    layer_norm_eps: float = 1e-7
    dropout: float = 0.1
    pad_id: int = 0
    mlm_head: bool = True

    def validate(self) -> None:
        check_positive(self, "vocab_size", "context_length", "d_model", "n_layers", "n_heads", "d_mlp")
        if self.d_model % self.n_heads:
            raise ConfigError(f"DebertaConfig: d_model={self.d_model} is not divisible by n_heads={self.n_heads}")
        if self.position_buckets < 0 or self.position_buckets == 1:
            raise ConfigError(f"DebertaConfig.position_buckets must be 0 or >= 2, got {self.position_buckets}")
        check_dropout(self)

    @property
    def terms(self) -> tuple[str, ...]:
        return tuple(t for t in self.position_terms.split("|") if t)


class Deberta(ModelBase):
    family = FAMILY
    config_class = DebertaConfig
    capabilities = frozenset({Capability.EMBED})

    def __init__(self, config: DebertaConfig) -> None:
        super().__init__()
        config.validate()
        self.config = c = config
        E, C = c.embedding_dim or c.d_model, c.d_model
        self.tok_emb = nn.Embedding(c.vocab_size, E)
        self.pos_emb = LearnedPositions(c.context_length, E) if c.position_biased_input else None
        self.type_emb = nn.Embedding(c.type_vocab_size, E) if c.type_vocab_size else None
        self.emb_proj = nn.Linear(E, C, bias=False) if E != C else None
        self.emb_norm = nn.LayerNorm(C, eps=c.layer_norm_eps)
        self.drop = nn.Dropout(c.dropout)
        self.relative = RelativeEmbeddings(C, c.position_buckets, c.max_relative or c.context_length,
                                           c.layer_norm_eps if c.norm_relative else None) \
            if c.relative_attention else None
        self.blocks = nn.ModuleList(
            TransformerBlock(
                attn=DisentangledSelfAttention(C, c.n_heads, self.relative, c.terms, c.share_att_key, c.dropout),
                mlp=MLP(C, c.d_mlp, c.activation, dropout=c.dropout),
                norm1=nn.LayerNorm(C, eps=c.layer_norm_eps),
                norm2=nn.LayerNorm(C, eps=c.layer_norm_eps),
                pre_norm=False,
            )
            for _ in range(c.n_layers)
        )
        if c.mlm_head:  # dense (C -> E) -> act -> norm -> tied embeddings + bias
            self.act = activation_fn(c.activation)
            self.mlm_transform = nn.Linear(C, E)
            self.mlm_norm = nn.LayerNorm(E, eps=c.layer_norm_eps)
            self.mlm_bias = nn.Parameter(torch.zeros(c.vocab_size))
        self.apply(init_normal)

    def forward(self, ids: torch.Tensor, token_type_ids: torch.Tensor | None = None,
                attention_mask: torch.Tensor | None = None) -> torch.Tensor:
        """Token ids (B, T), segment ids (B, T), mask (B, T; 1 = real token) -> hidden states (B, T, C)."""
        x = self.tok_emb(ids)  # (B, T, E)
        if self.pos_emb is not None:
            x = x + self.pos_emb(0, ids.shape[1])
        if self.type_emb is not None:
            x = x + self.type_emb(torch.zeros_like(ids) if token_type_ids is None else token_type_ids)
        if self.emb_proj is not None:
            x = self.emb_proj(x)  # (B, T, C)
        x = self.drop(self.emb_norm(x))
        bias = optional_padding_bias(attention_mask, x.dtype)  # pads get no attention
        for block in self.blocks:
            x = block(x, bias=bias)
        return x

    def mlm_logits(self, hidden: torch.Tensor) -> torch.Tensor:
        """(B, T, C) -> (B, T, vocab): which token was masked out at each position."""
        h = self.mlm_norm(self.act(self.mlm_transform(hidden)))  # (B, T, E)
        return F.linear(h, self.tok_emb.weight, self.mlm_bias)

    def embed(self, ids: torch.Tensor, attention_mask: torch.Tensor) -> torch.Tensor:
        """Mean of the hidden states over real tokens, (B, C)."""
        return mean_pool(self(ids, attention_mask=attention_mask), attention_mask)
