"""DeBERTa's disentangled attention: content and relative position in separate vectors.

BERT adds a position vector to each token embedding once, at the input, and
lets attention untangle the sum. DeBERTa keeps them apart: every layer scores
a query i against a key j with three terms,

    score(i, j) = ( q_i . k_j                      content -> content
                  + q_i . pk[d(i, j)]               content -> position (c2p)
                  + k_j . pq[d(i, j)] ) / sqrt(3D)  position -> content (p2c)

where ``d(i, j)`` is the bucket of the distance i - j, and ``pk``/``pq`` are
keys/queries computed from a learned table of relative-position embeddings
(with ``share_att_key`` by the content projections themselves). Near
distances get a bucket each; far ones share logarithmically wider buckets.

The two position terms depend only on (i, j), so they are computed as an
additive score bias (B, H, T, T) and handed to the same fused kernel as every
other family's attention, with the scale 1/sqrt(D * (1 + number of terms)).
"""

from __future__ import annotations

import math

import torch
from torch import nn

from lmforge.models.blocks.attention import SelfAttention


def log_buckets(relative: torch.Tensor, n_buckets: int, max_position: int) -> torch.Tensor:
    """Distance i - j -> bucket: exact within +-n_buckets/2, then log-spaced up to ``max_position``, signed."""
    mid = n_buckets // 2
    distance = relative.abs().clamp(min=mid - 1).float()  # near distances are replaced below; avoids log(0)
    far = torch.ceil(torch.log(distance / mid) / math.log((max_position - 1) / mid) * (mid - 1)) + mid
    return torch.where(relative.abs() <= mid, relative, (far * relative.sign()).long())


class RelativeEmbeddings(nn.Module):
    """The table of 2 * span relative-position embeddings, shared by every layer, and the index d(i, j)."""

    def __init__(self, d_model: int, n_buckets: int, max_relative: int, norm_eps: float | None) -> None:
        super().__init__()
        self.n_buckets, self.max_relative = n_buckets, max_relative
        self.span = n_buckets if n_buckets > 0 else max_relative  # distances -span .. span-1 after clamping
        self.table = nn.Embedding(2 * self.span, d_model)
        self.norm = nn.LayerNorm(d_model, eps=norm_eps) if norm_eps is not None else None  # DeBERTa-v3 norms it

    def embeddings(self) -> torch.Tensor:  # (2 * span, C)
        w = self.table.weight
        return self.norm(w) if self.norm is not None else w

    def index(self, length: int) -> torch.Tensor:
        """(T, T) row into the table for each (query i, key j)."""
        pos = torch.arange(length, device=self.table.weight.device)
        relative = pos[:, None] - pos[None, :]
        if self.n_buckets > 0:
            relative = log_buckets(relative, self.n_buckets, self.max_relative)
        return (relative + self.span).clamp(0, 2 * self.span - 1)


class DisentangledSelfAttention(SelfAttention):
    """Bidirectional self-attention with DeBERTa's c2p / p2c position terms (``terms``), read from the
    shared ``positions`` table (None: content -> content only, as in a DeBERTa without relative attention)."""

    def __init__(self, d_model: int, n_heads: int, positions: RelativeEmbeddings | None, terms: tuple[str, ...],
                 share_att_key: bool, dropout: float = 0.0) -> None:
        super().__init__(d_model, n_heads, dropout=dropout, causal=False,
                         scale=1 / math.sqrt(d_model // n_heads * (1 + len(terms))))
        self.positions, self.terms, self.share_att_key = positions, terms, share_att_key
        if positions is not None and not share_att_key:  # separate projections of the position table
            self.pos_key = nn.Linear(d_model, d_model) if "c2p" in terms else None
            self.pos_query = nn.Linear(d_model, d_model) if "p2c" in terms else None

    def forward(self, x: torch.Tensor, cache: None = None, layer: int = 0,
                bias: torch.Tensor | None = None) -> torch.Tensor:
        q, k, v = (self.split(t, self.n_heads) for t in self.qkv(x).split(self.widths, dim=-1))  # (B, H, T, D)
        if self.positions is not None and self.terms:  # (without positions, HF still scales by the terms)
            position_scores = self.position_scores(q, k)  # (B, H, T, T)
            bias = position_scores if bias is None else position_scores + bias
        return self.attend(q, k, v, bias)

    def position_scores(self, q: torch.Tensor, k: torch.Tensor) -> torch.Tensor:
        """c2p + p2c, already scaled: (B, H, T, T)."""
        rel = self.positions.embeddings()[None]  # (1, 2*span, C)
        if self.share_att_key:
            pq, pk, _ = self.qkv(rel).split(self.widths, dim=-1)
        else:
            pq = self.pos_query(rel) if self.pos_query is not None else None
            pk = self.pos_key(rel) if self.pos_key is not None else None
        index = self.positions.index(q.shape[-2]).expand(q.shape[0], self.n_heads, -1, -1)  # (B, H, T, T)
        scores = torch.zeros((), dtype=q.dtype, device=q.device)
        if "c2p" in self.terms:  # query i . position key of d(i, j)
            scores = scores + torch.gather(q @ self.split(pk, self.n_heads).transpose(-2, -1), -1, index)
        if "p2c" in self.terms:  # key j . position query of d(i, j): gather per key row, then transpose
            p2c = k @ self.split(pq, self.n_heads).transpose(-2, -1)  # (B, H, T_key, 2*span)
            scores = scores + torch.gather(p2c, -1, index.transpose(-2, -1)).transpose(-2, -1)
        return scores * self.scale
