"""Multi-head attention, written out once for every model family.

Shapes: B = batch, T = query length, S = key length (S = T without a cache,
S = past + T with one), C = model width, H = heads, D = head width.

For one head, attention is

    Attention(Q, K, V) = softmax(Q K^T * scale + M) V,   scale = 1 / sqrt(D) by default

where Q (T, D) are queries, K, V (S, D) keys and values, and M is an additive
mask: 0 where a query may look, -inf (or a very negative number) where it may
not. M can carry three things, summed:
- a *causal* triangle: position i sees only j <= i, so a language model cannot
  peek at the token it must predict (the ``causal`` flag);
- *padding*: batch rows padded to a common length must not attend to the pads
  (:func:`padding_bias`);
- *position biases* such as ALiBi or T5's learned relative bias (``positions.py``).
Multi-head attention runs H such heads on D-wide slices of the width and
concatenates the results. With fewer key/value heads than query heads (GQA;
MQA when there is one), each k/v head serves a group of query heads.

Two implementations compute exactly this:
- :func:`reference_attention` spells out every step (read this one first);
- :func:`fused_attention` calls ``torch.nn.functional.scaled_dot_product_attention``,
  which fuses the same math into one kernel (faster, less memory).
A test checks that they agree.

Two modules use them: :class:`SelfAttention` (q, k, v from the same tokens, one
fused projection) and :class:`CrossAttention` (queries from the decoder, keys and
values from the encoder output, as in T5).
"""

from __future__ import annotations

import math
from typing import Literal

import torch
import torch.nn.functional as F
from torch import nn

from lmforge.models.blocks.kv_cache import KVCache
from lmforge.models.blocks.norms import RMSNorm
from lmforge.models.blocks.positions import RotaryEmbedding
from lmforge.models.blocks.sliding_window import window_bias

AttentionImpl = Literal["sdpa", "reference"]


def causal_mask(t_query: int, t_key: int, device: torch.device | None = None) -> torch.Tensor:
    """Boolean (T, S) mask, True where query i may attend to key j.

    With a cache the T queries are the *last* T of the S positions, so query i
    sits at absolute position (S - T + i) and sees keys j <= S - T + i.
    """
    return torch.ones(t_query, t_key, dtype=torch.bool, device=device).tril(diagonal=t_key - t_query)


def padding_bias(keep: torch.Tensor, dtype: torch.dtype = torch.float32) -> torch.Tensor:
    """(B, S) mask, 1/True for real tokens, 0/False for padding -> additive (B, 1, 1, S) bias.

    The most negative finite number (not -inf) keeps a row of all-padding from
    turning into NaN; after softmax it is an exact 0 weight all the same.
    """
    return (1.0 - keep[:, None, None, :].to(dtype)) * torch.finfo(dtype).min


def optional_padding_bias(keep: torch.Tensor | None, dtype: torch.dtype = torch.float32) -> torch.Tensor | None:
    """``padding_bias``, or None when nothing is padded (no mask, or all ones).

    Without a bias the fused kernel can take its fastest path; a bias of zeros changes nothing but costs time.
    """
    if keep is None or bool(keep.all()):
        return None
    return padding_bias(keep, dtype)


def reference_attention(
    q: torch.Tensor, k: torch.Tensor, v: torch.Tensor, causal: bool,
    bias: torch.Tensor | None = None, scale: float | None = None,
) -> tuple[torch.Tensor, torch.Tensor]:
    """Attention step by step. q: (B, H, T, D); k, v: (B, Hkv, S, D); bias broadcasts to (B, H, T, S).

    Returns the output (B, H, T, D) and the attention weights (B, H, T, S),
    which are what attention heatmaps show.
    """
    if k.shape[1] != q.shape[1]:  # GQA: each k/v head serves H / Hkv query heads, so copy it that many times
        repeat = q.shape[1] // k.shape[1]
        k, v = k.repeat_interleave(repeat, dim=1), v.repeat_interleave(repeat, dim=1)  # (B, H, S, D)
    scale = 1 / math.sqrt(q.shape[-1]) if scale is None else scale
    scores = q @ k.transpose(-2, -1) * scale  # (B, H, T, S): similarity of each query to each key
    if bias is not None:
        scores = scores + bias  # padding / ALiBi / relative position bias
    if causal:
        allowed = causal_mask(q.shape[-2], k.shape[-2], q.device)
        scores = scores.masked_fill(~allowed, float("-inf"))  # exp(-inf) = 0: masked keys get no weight
    weights = torch.softmax(scores.float(), dim=-1).to(q.dtype)  # each row sums to 1 over the keys
    return weights @ v, weights  # (B, H, T, D): weighted average of the values


def fused_attention(
    q: torch.Tensor, k: torch.Tensor, v: torch.Tensor, causal: bool,
    bias: torch.Tensor | None = None, scale: float | None = None, dropout: float = 0.0,
) -> torch.Tensor:
    """The same computation through PyTorch's fused kernel (plus attention dropout when training).

    With GQA the kernel reads each k/v head for its whole group of query heads itself (``enable_gqa``):
    copying k and v H / Hkv times first, as the reference does, costs memory traffic forward and a sum
    over the copies backward.
    """
    t_query, t_key = q.shape[-2], k.shape[-2]
    gqa = k.shape[1] != q.shape[1]
    causal = causal and t_query > 1  # one new token (cached decoding) may see every key
    if causal and bias is None and t_query == t_key:
        return F.scaled_dot_product_attention(q, k, v, is_causal=True, scale=scale, dropout_p=dropout, enable_gqa=gqa)
    if causal:  # a shifted triangle (several new tokens after a cache) and/or a bias: build the full mask
        triangle = torch.zeros(t_query, t_key, dtype=q.dtype, device=q.device)
        triangle.masked_fill_(~causal_mask(t_query, t_key, q.device), float("-inf"))
        bias = triangle if bias is None else bias + triangle
    return F.scaled_dot_product_attention(q, k, v, attn_mask=bias, scale=scale, dropout_p=dropout, enable_gqa=gqa)


class _Heads(nn.Module):
    """What self- and cross-attention share: the head split/merge, the output
    projection, and the choice of reference or fused path."""

    def __init__(self, d_model: int, n_heads: int, n_kv_heads: int | None, d_head: int | None, bias: bool,
                 dropout: float, causal: bool, impl: AttentionImpl, scale: float | None) -> None:
        super().__init__()
        n_kv_heads = n_kv_heads or n_heads
        if n_heads % n_kv_heads or (d_head is None and d_model % n_heads):
            raise ValueError(
                f"d_model={d_model} must divide by n_heads={n_heads}, which must divide by n_kv_heads={n_kv_heads}"
            )
        self.n_heads, self.n_kv_heads = n_heads, n_kv_heads
        self.head_dim = d_head or d_model // n_heads
        self.causal, self.impl, self.dropout, self.scale = causal, impl, dropout, scale
        self.proj = nn.Linear(n_heads * self.head_dim, d_model, bias=bias)  # mixes the heads back together
        self.resid_dropout = nn.Dropout(dropout)
        self.last_weights: torch.Tensor | None = None  # set by the reference path, for heatmaps

    def split(self, x: torch.Tensor, n_heads: int) -> torch.Tensor:  # (B, T, H*D) -> (B, H, T, D)
        return x.view(x.shape[0], x.shape[1], n_heads, self.head_dim).transpose(1, 2)

    def attend(self, q: torch.Tensor, k: torch.Tensor, v: torch.Tensor, bias: torch.Tensor | None,
               causal: bool | None = None) -> torch.Tensor:
        """q (B, H, T, D), k/v (B, Hkv, S, D) -> projected output (B, T, C); ``causal`` overrides the module's."""
        causal = self.causal if causal is None else causal
        if self.impl == "reference":
            y, self.last_weights = reference_attention(q, k, v, causal, bias, self.scale)
        else:
            dropout = self.dropout if self.training else 0.0
            y = fused_attention(q, k, v, causal, bias, self.scale, dropout)
        B, _, T, _ = y.shape
        y = y.transpose(1, 2).reshape(B, T, self.n_heads * self.head_dim)  # concatenate the heads
        return self.resid_dropout(self.proj(y))


class SelfAttention(_Heads):
    """Multi-head self-attention with one fused q/k/v projection.

    ``n_kv_heads < n_heads`` gives grouped-query attention (MQA when it is 1):
    several query heads share one key/value head, shrinking the KV cache.
    ``rope`` rotates queries and keys by their position (Llama); ``scale=1.0``
    drops the 1/sqrt(D) (T5 folds it into the weights); ``window`` hides keys that
    many positions or more behind a query (Mistral, see ``sliding_window.py``); ``qk_norm`` RMS-normalizes
    each head's query and key (with a learned gain) before RoPE and the dot product (OLMo 2, Qwen 3, the
    modded-nanogpt speedruns), so the attention logits cannot grow without bound as the weights do, which
    lets a run take a higher learning rate without the softmax saturating.
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
        rope: RotaryEmbedding | None = None,
        scale: float | None = None,
        d_head: int | None = None,
        window: int | None = None,
        qk_norm: bool = False,
    ) -> None:
        super().__init__(d_model, n_heads, n_kv_heads, d_head, bias, dropout, causal, impl, scale)
        self.rope, self.window = rope, window
        self.q_norm = RMSNorm(self.head_dim) if qk_norm else None  # over each head's D channels
        self.k_norm = RMSNorm(self.head_dim) if qk_norm else None
        q_width, kv_width = n_heads * self.head_dim, self.n_kv_heads * self.head_dim
        self.widths = [q_width, kv_width, kv_width]
        self.qkv = nn.Linear(d_model, q_width + 2 * kv_width, bias=bias)  # one matmul for q, k and v

    def forward(self, x: torch.Tensor, cache: KVCache | None = None, layer: int = 0,
                bias: torch.Tensor | None = None) -> torch.Tensor:
        q, k, v = self.qkv(x).split(self.widths, dim=-1)
        q, k, v = self.split(q, self.n_heads), self.split(k, self.n_kv_heads), self.split(v, self.n_kv_heads)
        if self.q_norm is not None:
            q, k = self.q_norm(q), self.k_norm(k)  # (B, H, T, D): unit RMS per head, times the gains
        if self.rope is not None:
            q, k = self.rope(q, k, start=cache.length if cache is not None else 0)
        causal = None
        if cache is not None:
            k, v = cache.update(layer, k, v)  # (B, Hkv, S, D) with the cached past prepended
            if (rows := cache.row_bias(q.shape[-2], q.dtype)) is not None:  # rows of different lengths:
                bias, causal = (rows if bias is None else bias + rows), False  # the mask is per row, causal in it
        if self.window is not None and k.shape[-2] > self.window:  # some keys lie beyond the window
            start = cache.length if cache is not None and isinstance(cache.length, torch.Tensor) else None
            band = window_bias(q.shape[-2], k.shape[-2], self.window, q.dtype, q.device, start)
            bias = band if bias is None else bias + band
        return self.attend(q, k, v, bias, causal)


class CrossAttention(_Heads):
    """Queries from ``x`` (the decoder), keys and values from ``memory`` (the encoder output)."""

    def __init__(self, d_model: int, n_heads: int, bias: bool = True, dropout: float = 0.0,
                 impl: AttentionImpl = "sdpa", scale: float | None = None, d_head: int | None = None) -> None:
        super().__init__(d_model, n_heads, None, d_head, bias, dropout, False, impl, scale)
        width = n_heads * self.head_dim
        self.q = nn.Linear(d_model, width, bias=bias)
        self.kv = nn.Linear(d_model, 2 * width, bias=bias)

    def forward(self, x: torch.Tensor, memory: torch.Tensor, bias: torch.Tensor | None = None) -> torch.Tensor:
        k, v = self.kv(memory).chunk(2, dim=-1)  # (B, S, H*D) each
        return self.attend(self.split(self.q(x), self.n_heads), self.split(k, self.n_heads),
                           self.split(v, self.n_heads), bias)
