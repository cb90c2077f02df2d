"""GPT (GPT-2 architecture): token + learned position embeddings, a stack of
pre-norm blocks, a final LayerNorm and a language-model head tied to the token
embedding. Exports to / imports from Hugging Face ``GPT2LMHeadModel``."""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
from torch import nn

from lmforge.errors import ConfigError
from lmforge.models.blocks.attention import AttentionImpl, SelfAttention
from lmforge.models.blocks.kv_cache import KVCache
from lmforge.models.blocks.mlp import MLP, Activation
from lmforge.models.blocks.positions import LearnedPositions
from lmforge.models.blocks.transformer_block import PreNormBlock

FAMILY = "gpt"


@dataclass
class GPTConfig:
    vocab_size: int = 50257
    context_length: int = 1024
    d_model: int = 768
    n_layers: int = 12
    n_heads: int = 12
    d_mlp: int | None = None  # default 4 * d_model
    dropout: float = 0.0
    bias: bool = True
    tie_embeddings: bool = True
    layer_norm_eps: float = 1e-5
    activation: Activation = "gelu_tanh"
    attention_impl: AttentionImpl = "sdpa"

    def validate(self) -> None:
        for name in ("vocab_size", "context_length", "d_model", "n_layers", "n_heads"):
            if getattr(self, name) <= 0:
                raise ConfigError(f"GPTConfig.{name} must be positive, got {getattr(self, name)}")
        if self.d_model % self.n_heads:
            raise ConfigError(f"GPTConfig: d_model={self.d_model} is not divisible by n_heads={self.n_heads}")
        if not 0.0 <= self.dropout < 1.0:
            raise ConfigError(f"GPTConfig.dropout must be in [0, 1), got {self.dropout}")

    @property
    def mlp_width(self) -> int:
        return self.d_mlp or 4 * self.d_model


class GPT(nn.Module):
    family = FAMILY
    config_class = GPTConfig

    def __init__(self, config: GPTConfig) -> None:
        super().__init__()
        config.validate()
        self.config = c = config
        self.tok_emb = nn.Embedding(c.vocab_size, c.d_model)
        self.pos_emb = LearnedPositions(c.context_length, c.d_model)
        self.drop = nn.Dropout(c.dropout)
        self.blocks = nn.ModuleList(
            PreNormBlock(
                attn=SelfAttention(c.d_model, c.n_heads, bias=c.bias, dropout=c.dropout, impl=c.attention_impl),
                mlp=MLP(c.d_model, c.mlp_width, c.activation, bias=c.bias, dropout=c.dropout),
                norm1=nn.LayerNorm(c.d_model, eps=c.layer_norm_eps, bias=c.bias),
                norm2=nn.LayerNorm(c.d_model, eps=c.layer_norm_eps, bias=c.bias),
            )
            for _ in range(c.n_layers)
        )
        self.norm = nn.LayerNorm(c.d_model, eps=c.layer_norm_eps, bias=c.bias)
        self.lm_head = nn.Linear(c.d_model, c.vocab_size, bias=False)
        if c.tie_embeddings:
            # the same matrix maps ids -> vectors and vectors -> logits: fewer
            # parameters, and rare tokens' output rows get the input's gradient too
            self.lm_head.weight = self.tok_emb.weight
        self.apply(self._init_weights)
        # GPT-2: scale the projections that write into the residual stream by
        # 1/sqrt(2 * n_layers), so the sum of 2*n_layers additions keeps unit variance
        for name, p in self.named_parameters():
            if name.endswith(("attn.proj.weight", "mlp.down.weight")):
                nn.init.normal_(p, mean=0.0, std=0.02 / math.sqrt(2 * c.n_layers))

    @staticmethod
    def _init_weights(module: nn.Module) -> None:
        if isinstance(module, nn.Linear):
            nn.init.normal_(module.weight, mean=0.0, std=0.02)
            if module.bias is not None:
                nn.init.zeros_(module.bias)
        elif isinstance(module, nn.Embedding):
            nn.init.normal_(module.weight, mean=0.0, std=0.02)

    @property
    def context_length(self) -> int:
        return self.config.context_length

    def num_parameters(self, non_embedding: bool = False) -> int:
        """Unique parameters (tied weights counted once); ``non_embedding`` drops
        the position table, the convention of the GPT-2 and nanoGPT papers."""
        n = sum(p.numel() for p in self.parameters())
        return n - self.pos_emb.table.weight.numel() if non_embedding else n

    def new_cache(self, batch_size: int, max_len: int | None = None, dtype: torch.dtype | None = None) -> KVCache:
        c = self.config
        weight = self.tok_emb.weight
        return KVCache(c.n_layers, batch_size, c.n_heads, c.d_model // c.n_heads, max_len or c.context_length,
                       dtype or weight.dtype, weight.device)

    def forward(self, idx: torch.Tensor, cache: KVCache | None = None) -> torch.Tensor:
        """Token ids (B, T) -> next-token logits (B, T, vocab_size)."""
        start = cache.length if cache is not None else 0
        x = self.tok_emb(idx) + self.pos_emb(start, idx.shape[1])  # (B, T, C)
        x = self.drop(x)
        for i, block in enumerate(self.blocks):
            x = block(x, cache, i)
        if cache is not None:
            cache.advance(idx.shape[1])
        return self.lm_head(self.norm(x))  # (B, T, vocab_size)
