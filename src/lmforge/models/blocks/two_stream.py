"""XLNet's two-stream relative attention, and the post-norm block around it.

Permutation language modelling predicts a token from the tokens before it in a *random order* of the
sequence, so a query must know *where* its target sits without seeing *what* is there. XLNet runs two
streams through the same weights:

- the *content* stream h_i (the token and, through the mask, everything it may see, itself included): it
  provides the keys and values for both streams;
- the *query* stream g_m (a learned ``[mask]`` vector at target position m): its queries read the content
  keys it may see, never its own token; its output predicts the token at m.

A query i scores a key j with Transformer-XL's relative terms (all per head, scale 1/sqrt(D)):

    (q_i + u) . k_j           content              u: ``content_bias`` (r_w in the paper's code)
    (q_i + v) . r[i - j]      relative position    r: a projected sinusoid of the distance
    (q_i + s) . seg[i, j]     segment              seg: one of two learned vectors, same/different segment

The last two depend only on (i, j): they become an additive score bias for the fused kernel.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn

from lmforge.models.blocks.attention import fused_attention

BLOCKED = -1e30  # the score of a key a query may not see (XLNet's value: a fully blocked row becomes uniform)


def relative_sinusoids(length: int, d_model: int, clamp: int | None, device: torch.device | None) -> torch.Tensor:
    """(2T, C) encodings of the distances T, T-1, ..., -T+1 (query minus key): [sin(d w), cos(d w)]."""
    distance = torch.arange(length, -length, -1, device=device, dtype=torch.float32)
    if clamp is not None:
        distance = distance.clamp(-clamp, clamp)
    inv_freq = 10000 ** (-torch.arange(0, d_model, 2, device=device, dtype=torch.float32) / d_model)
    angle = distance[:, None] * inv_freq  # (2T, C/2)
    return torch.cat([angle.sin(), angle.cos()], dim=-1)


def relative_shift(scores: torch.Tensor) -> torch.Tensor:
    """(B, H, T, 2T) scores against the distances T .. -T+1 -> (B, H, T, T) with [i, j] the score of distance
    i - j, i.e. column T - i + j of row i. Transformer-XL's reshape trick: viewing the rows with one column
    fewer shifts each row by one more place, no index tensor needed."""
    B, H, T, R = scores.shape
    return scores.reshape(B, H, R, T)[:, :, 1:].reshape(B, H, T, R - 1)[..., :T]


def blocked_bias(blocked: torch.Tensor | None) -> torch.Tensor | None:
    """(B, T, S) bool, True where query i may not see key j -> additive (B, 1, T, S) bias."""
    return None if blocked is None else (blocked.float() * BLOCKED)[:, None]


class TwoStreamAttention(nn.Module):
    def __init__(self, d_model: int, n_heads: int, dropout: float = 0.0) -> None:
        super().__init__()
        if d_model % n_heads:
            raise ValueError(f"d_model={d_model} must divide by n_heads={n_heads}")
        self.n_heads, self.head_dim, self.dropout = n_heads, d_model // n_heads, dropout
        self.qkv = nn.Linear(d_model, 3 * d_model, bias=False)
        self.pos = nn.Linear(d_model, d_model, bias=False)  # distance sinusoid -> per-head position keys
        self.proj = nn.Linear(d_model, d_model, bias=False)
        self.content_bias, self.position_bias, self.segment_bias = (
            nn.Parameter(torch.zeros(n_heads, self.head_dim)) for _ in range(3))
        self.segment_embed = nn.Parameter(torch.zeros(2, n_heads, self.head_dim))  # same / different segment

    def split(self, x: torch.Tensor) -> torch.Tensor:  # (B, T, H*D) -> (B, H, T, D)
        return x.view(x.shape[0], x.shape[1], self.n_heads, self.head_dim).transpose(1, 2)

    def forward(self, h: torch.Tensor, g: torch.Tensor | None, positions: torch.Tensor,
                other_segment: torch.Tensor | None, mask_h: torch.Tensor | None, mask_g: torch.Tensor | None,
                target_mapping: torch.Tensor | None) -> tuple[torch.Tensor, torch.Tensor | None]:
        """h (B, T, C); g (B, M, C) or None; positions (2T, C) from :func:`relative_sinusoids`; other_segment
        (B, T, T) bool or None; masks (B, 1, T, T) additive; target_mapping (B, M, T) one-hot: which position
        each query-stream row predicts. Returns the attention outputs of both streams (before the residual)."""
        q, k, v = (self.split(t) for t in self.qkv(h).chunk(3, dim=-1))  # (B, H, T, D)
        rel_keys = self.split(self.pos(positions)[None])  # (1, H, 2T, D)

        def attend(q: torch.Tensor, mask: torch.Tensor | None) -> torch.Tensor:  # q (B, H, T, D) at positions 0..T-1
            bias = relative_shift((q + self.position_bias[:, None]) @ rel_keys.transpose(-2, -1))
            if other_segment is not None:
                seg = (q + self.segment_bias[:, None]) @ self.segment_embed.permute(1, 2, 0)  # (B, H, T, 2)
                bias = bias + torch.where(other_segment[:, None], seg[..., 1:], seg[..., :1])
            bias = bias / math.sqrt(self.head_dim)
            if mask is not None:
                bias = bias + mask
            dropout = self.dropout if self.training else 0.0
            return fused_attention(q + self.content_bias[:, None], k, v, False, bias, dropout=dropout)

        out_h = self.merge(attend(q, mask_h))
        if g is None:
            return out_h, None
        q_g = self.split(F.linear(g, self.qkv.weight[: self.proj.in_features]))  # (B, H, M, D)
        at_targets = torch.einsum("bhmd,bmt->bhtd", q_g, target_mapping)  # each query at its target's position
        out_g = torch.einsum("bhtd,bmt->bhmd", attend(at_targets, mask_g), target_mapping)
        return out_h, self.merge(out_g)

    def merge(self, y: torch.Tensor) -> torch.Tensor:  # (B, H, T, D) -> (B, T, C), heads concatenated, projected
        return self.proj(y.transpose(1, 2).flatten(2))


class TwoStreamBlock(nn.Module):
    """Post-norm block (as BERT): x = LN(x + attn), x = LN(x + MLP(x)) for both streams, with shared weights."""

    def __init__(self, attn: TwoStreamAttention, mlp: nn.Module, norm1: nn.Module, norm2: nn.Module,
                 dropout: float = 0.0) -> None:
        super().__init__()
        self.attn, self.mlp, self.norm1, self.norm2 = attn, mlp, norm1, norm2
        self.drop = nn.Dropout(dropout)

    def forward(self, h: torch.Tensor, g: torch.Tensor | None, positions: torch.Tensor,
                other_segment: torch.Tensor | None, mask_h: torch.Tensor | None, mask_g: torch.Tensor | None,
                target_mapping: torch.Tensor | None) -> tuple[torch.Tensor, torch.Tensor | None]:
        """See :meth:`TwoStreamAttention.forward`; returns the new (h, g)."""
        out_h, out_g = self.attn(h, g, positions, other_segment, mask_h, mask_g, target_mapping)
        h = self.feed_forward(self.norm1(h + self.drop(out_h)))
        return h, None if g is None else self.feed_forward(self.norm1(g + self.drop(out_g)))

    def feed_forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.norm2(x + self.mlp(x))
