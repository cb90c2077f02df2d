"""Multi-head self-attention, written out once for every model family.

Shapes: B = batch, T = query length, S = key length (S = T without a cache,
S = past + T with one), C = model width, H = heads, D = C / H = head width.

For one head, attention is

    Attention(Q, K, V) = softmax(Q K^T / sqrt(D) + M) V

where Q (T, D) are queries, K, V (S, D) keys and values, and M is the mask:
0 where a query may look, -inf where it may not. A *causal* mask lets position
i look only at positions j <= i, so a language model cannot peek at the token
it must predict. Multi-head attention runs H such heads on D-wide slices of the
width and concatenates the results.

Two implementations compute exactly this:
- :func:`reference_attention` spells out every step (read this one first);
- :func:`fused_attention` calls ``torch.nn.functional.scaled_dot_product_attention``,
  which fuses the same math into one kernel (faster, less memory).
A test checks that they agree.
"""

from __future__ import annotations

import math
from typing import Literal

import torch
import torch.nn.functional as F
from torch import nn

from lmforge.models.blocks.kv_cache import KVCache

AttentionImpl = Literal["sdpa", "reference"]


def causal_mask(t_query: int, t_key: int, device: torch.device | None = None) -> torch.Tensor:
    """Boolean (T, S) mask, True where query i may attend to key j.

    With a cache the T queries are the *last* T of the S positions, so query i
    sits at absolute position (S - T + i) and sees keys j <= S - T + i.
    """
    return torch.ones(t_query, t_key, dtype=torch.bool, device=device).tril(diagonal=t_key - t_query)


def reference_attention(
    q: torch.Tensor, k: torch.Tensor, v: torch.Tensor, causal: bool
) -> tuple[torch.Tensor, torch.Tensor]:
    """Attention step by step. q: (B, H, T, D); k, v: (B, H, S, D).

    Returns the output (B, H, T, D) and the attention weights (B, H, T, S),
    which are what attention heatmaps show.
    """
    scores = q @ k.transpose(-2, -1) / math.sqrt(q.shape[-1])  # (B, H, T, S): similarity of each query to each key
    if causal:
        allowed = causal_mask(q.shape[-2], k.shape[-2], q.device)
        scores = scores.masked_fill(~allowed, float("-inf"))  # exp(-inf) = 0: masked keys get no weight
    weights = torch.softmax(scores.float(), dim=-1).to(q.dtype)  # each row sums to 1 over the keys
    return weights @ v, weights  # (B, H, T, D): weighted average of the values


def fused_attention(q: torch.Tensor, k: torch.Tensor, v: torch.Tensor, causal: bool) -> torch.Tensor:
    """The same computation through PyTorch's fused kernel."""
    t_query, t_key = q.shape[-2], k.shape[-2]
    if not causal or t_query == 1:
        # one new token (cached decoding) may see every key: no mask needed
        return F.scaled_dot_product_attention(q, k, v)
    if t_query == t_key:
        return F.scaled_dot_product_attention(q, k, v, is_causal=True)
    # several new tokens after a cached prefix: the mask is a shifted triangle
    return F.scaled_dot_product_attention(q, k, v, attn_mask=causal_mask(t_query, t_key, q.device))


class SelfAttention(nn.Module):
    """Multi-head self-attention with one fused q/k/v projection.

    ``n_kv_heads < n_heads`` gives grouped-query attention (MQA when it is 1):
    several query heads share one key/value head, shrinking the KV cache.
    """

    def __init__(
        self,
        d_model: int,
        n_heads: int,
        n_kv_heads: int | None = None,
        bias: bool = True,
        dropout: float = 0.0,
        causal: bool = True,
        impl: AttentionImpl = "sdpa",
    ) -> None:
        super().__init__()
        n_kv_heads = n_kv_heads or n_heads
        if d_model % n_heads or n_heads % n_kv_heads:
            raise ValueError(
                f"d_model={d_model} must divide by n_heads={n_heads}, which must divide by n_kv_heads={n_kv_heads}"
            )
        self.n_heads, self.n_kv_heads, self.head_dim = n_heads, n_kv_heads, d_model // n_heads
        self.causal, self.impl, self.dropout = causal, impl, dropout
        kv_width = n_kv_heads * self.head_dim
        self.qkv = nn.Linear(d_model, d_model + 2 * kv_width, bias=bias)  # one matmul for q, k and v
        self.proj = nn.Linear(d_model, d_model, bias=bias)  # mixes the heads back together
        self.resid_dropout = nn.Dropout(dropout)
        self.last_weights: torch.Tensor | None = None  # set by the reference path, for heatmaps

    def forward(self, x: torch.Tensor, cache: KVCache | None = None, layer: int = 0) -> torch.Tensor:
        B, T, C = x.shape
        kv_width = self.n_kv_heads * self.head_dim
        q, k, v = self.qkv(x).split([C, kv_width, kv_width], dim=-1)
        q = q.view(B, T, self.n_heads, self.head_dim).transpose(1, 2)  # (B, H, T, D)
        k = k.view(B, T, self.n_kv_heads, self.head_dim).transpose(1, 2)  # (B, Hkv, T, D)
        v = v.view(B, T, self.n_kv_heads, self.head_dim).transpose(1, 2)
        if cache is not None:
            k, v = cache.update(layer, k, v)  # (B, Hkv, S, D) with the cached past prepended
        if self.n_kv_heads != self.n_heads:  # each k/v head serves n_heads / n_kv_heads query heads
            repeat = self.n_heads // self.n_kv_heads
            k, v = k.repeat_interleave(repeat, dim=1), v.repeat_interleave(repeat, dim=1)
        if self.impl == "reference":
            y, self.last_weights = reference_attention(q, k, v, self.causal)
        else:
            y = fused_attention(q, k, v, self.causal)
        y = y.transpose(1, 2).reshape(B, T, C)  # (B, T, H*D): concatenate the heads
        return self.resid_dropout(self.proj(y))
