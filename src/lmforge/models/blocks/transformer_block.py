"""One Transformer block: attention (tokens exchange information), optionally
cross-attention to an encoder's output, then an MLP (each token on its own),
each wrapped in a residual connection and a norm.

Pre-norm (GPT-2, Llama, T5):   x = x + f(norm(x))
Post-norm (original, BERT):    x = norm(x + f(x))

Pre-norm keeps the residual stream un-normalised, so gradients flow straight
through the additions and deep stacks train stably without warmup tricks.

Parallel (GPT-J, PaLM):        x = x + attn(norm(x)) + mlp(norm(x))

Attention and MLP read the same normalised input instead of one after the other,
so their input projections can run as one matmul (PaLM: ~15% faster training at
scale, a small quality cost at small scale); one norm, no ``norm2``.
"""

from __future__ import annotations

from collections.abc import Callable

import torch
from torch import nn

from lmforge.models.blocks.attention import CrossAttention, SelfAttention
from lmforge.models.blocks.kv_cache import KVCache


class TransformerBlock(nn.Module):
    def __init__(self, attn: SelfAttention, mlp: nn.Module, norm1: nn.Module, norm2: nn.Module | None,
                 pre_norm: bool = True, cross_attn: CrossAttention | None = None,
                 norm_cross: nn.Module | None = None, parallel: bool = False) -> None:
        super().__init__()
        if parallel != (norm2 is None) or (parallel and (cross_attn is not None or not pre_norm)):
            raise ValueError("a parallel block is pre-norm, has one norm (norm2=None) and no cross-attention")
        self.norm1, self.attn, self.norm2, self.mlp = norm1, attn, norm2, mlp
        self.cross_attn, self.norm_cross = cross_attn, norm_cross
        self.pre_norm, self.parallel = pre_norm, parallel

    def forward(self, x: torch.Tensor, cache: KVCache | None = None, layer: int = 0,
                bias: torch.Tensor | None = None, memory: torch.Tensor | None = None,
                memory_bias: torch.Tensor | None = None) -> torch.Tensor:
        """x (B, T, C); ``bias`` is the additive attention bias (padding / positions), see attention.py."""
        if self.parallel:
            h = self.norm1(x)
            return x + self.attn(h, cache, layer, bias) + self.mlp(h)
        x = self._residual(x, self.norm1, lambda h: self.attn(h, cache, layer, bias))
        if self.cross_attn is not None:
            x = self._residual(x, self.norm_cross, lambda h: self.cross_attn(h, memory, memory_bias))
        return self._residual(x, self.norm2, self.mlp)

    def _residual(self, x: torch.Tensor, norm: nn.Module, f: Callable[[torch.Tensor], torch.Tensor]) -> torch.Tensor:
        return x + f(norm(x)) if self.pre_norm else norm(x + f(x))
