"""One pre-norm Transformer block: x + Attn(LN(x)), then x + MLP(LN(x)).

Pre-norm (GPT-2 and later) keeps the residual stream un-normalised, so
gradients flow straight through the additions and deep stacks train stably.
"""

from __future__ import annotations

import torch
from torch import nn

from lmforge.models.blocks.attention import SelfAttention
from lmforge.models.blocks.kv_cache import KVCache


class PreNormBlock(nn.Module):
    def __init__(self, attn: SelfAttention, mlp: nn.Module, norm1: nn.Module, norm2: nn.Module) -> None:
        super().__init__()
        self.norm1, self.attn, self.norm2, self.mlp = norm1, attn, norm2, mlp

    def forward(self, x: torch.Tensor, cache: KVCache | None = None, layer: int = 0) -> torch.Tensor:
        x = x + self.attn(self.norm1(x), cache, layer)  # tokens exchange information
        return x + self.mlp(self.norm2(x))  # each token is processed on its own
