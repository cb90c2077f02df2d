"""Reformer's LSH attention: each query reads a few keys that are likely to matter, not all T of them.

Softmax attention is dominated by the keys closest to the query. Locality-sensitive hashing finds them
without comparing every pair:

1. queries and keys are the *same* vectors (one shared projection), so "close to the query" and "close
   to the key" agree;
2. hash each vector by a random rotation: bucket = argmax([xR, -xR]) over ``n_buckets`` directions, so
   vectors pointing the same way tend to share a bucket;
3. sort the positions by (bucket, position) and cut the sorted sequence into chunks of ``chunk_length``;
   each query attends within its chunk and the chunk before (a bucket may straddle a chunk border);
4. a token does not attend to itself (its query equals its key, which would win) unless nothing else is
   there; keys are length-normalised. ``n_hashes`` independent rounds cut the chance that close vectors
   always land apart; their outputs are averaged, weighted by each round's softmax mass.

Cost per layer: O(T * chunk_length) scores instead of O(T^2). Sequences no longer than one chunk get
ordinary attention (with the same self-mask and normalisation).
"""

from __future__ import annotations

import torch
from torch import nn

MASKED, SELF = -1e9, -1e5  # score of a hidden key, and of the query's own position (HF's values)


def hash_buckets(vectors: torch.Tensor, rotations: torch.Tensor) -> torch.Tensor:
    """vectors (B, H, T, D), rotations (H, D, n_hashes, n_buckets/2) -> buckets (B, H, n_hashes, T)."""
    rotated = torch.einsum("bhtd,hdnr->bhntr", vectors, rotations)
    return torch.cat([rotated, -rotated], dim=-1).argmax(-1)


def _attend(q: torch.Tensor, k: torch.Tensor, v: torch.Tensor, q_pos: torch.Tensor, k_pos: torch.Tensor,
            causal: bool, dropout: float) -> tuple[torch.Tensor, torch.Tensor]:
    """q (..., c, D) with positions (..., c); k, v (..., s, D) with positions (..., s) -> output (..., c, D)
    and each query's log-sum-exp of scores (..., c), which weighs the hashing rounds against each other."""
    scores = q @ k.transpose(-2, -1)  # (..., c, s)
    if causal:
        scores = scores.masked_fill(q_pos[..., :, None] < k_pos[..., None, :], MASKED)
    scores = scores.masked_fill(q_pos[..., :, None] == k_pos[..., None, :], SELF)
    lse = scores.logsumexp(-1, keepdim=True)
    weights = nn.functional.dropout(torch.exp(scores - lse), dropout)
    return weights @ v, lse.squeeze(-1)


class LSHSelfAttention(nn.Module):
    def __init__(self, d_model: int, n_heads: int, n_buckets: int, n_hashes: int, chunk_length: int,
                 causal: bool = True, dropout: float = 0.0) -> None:
        super().__init__()
        if d_model % n_heads or n_buckets % 2:
            raise ValueError(f"d_model={d_model} must divide by n_heads={n_heads}; n_buckets={n_buckets} must be even")
        self.n_heads, self.head_dim = n_heads, d_model // n_heads
        self.n_buckets, self.n_hashes, self.chunk_length = n_buckets, n_hashes, chunk_length
        self.causal, self.dropout = causal, dropout
        self.qk = nn.Linear(d_model, d_model, bias=False)  # shared query/key projection
        self.v = nn.Linear(d_model, d_model, bias=False)
        self.proj = nn.Linear(d_model, d_model, bias=False)

    def new_rotations(self, device: torch.device | None = None) -> torch.Tensor:
        """Fresh random rotations (H, D, n_hashes, n_buckets/2): each forward pass hashes anew."""
        return torch.randn(self.n_heads, self.head_dim, self.n_hashes, self.n_buckets // 2, device=device)

    def forward(self, x: torch.Tensor, cache: None = None, layer: int = 0, bias: torch.Tensor | None = None,
                rotations: torch.Tensor | None = None) -> torch.Tensor:
        """x (B, T, C) -> (B, T, C). ``rotations`` fixes the hash (tests); no padding bias, no KV cache."""
        if bias is not None or cache is not None:
            raise ValueError("LSH attention takes neither a padding bias nor a KV cache")
        B, T, C = x.shape
        split = lambda t: t.view(B, T, self.n_heads, self.head_dim).transpose(1, 2)  # noqa: E731
        qk, v = split(self.qk(x)), split(self.v(x))  # (B, H, T, D)
        keys = qk * torch.rsqrt(qk.pow(2).mean(-1, keepdim=True) + 1e-6) / self.head_dim**0.5
        dropout = self.dropout if self.training else 0.0
        if x.shape[1] > self.chunk_length:
            out = self._lsh(qk, keys, v, self.new_rotations(x.device) if rotations is None else rotations, dropout)
        else:  # one chunk: plain attention
            pos = torch.arange(T, device=x.device)
            out = _attend(qk, keys, v, pos, pos, self.causal, dropout)[0]
        return self.proj(out.transpose(1, 2).reshape(B, T, C))

    def _lsh(self, qk: torch.Tensor, keys: torch.Tensor, v: torch.Tensor, rotations: torch.Tensor,
             dropout: float) -> torch.Tensor:
        B, H, T, D = qk.shape
        n, c = self.n_hashes, self.chunk_length
        if T % c:
            raise ValueError(f"LSH attention needs a length that is a multiple of chunk_length={c}, got {T}")
        buckets = hash_buckets(qk.detach(), rotations)  # (B, H, n, T)
        rounds = torch.arange(n, device=qk.device)[:, None] * self.n_buckets  # each round sorts apart
        sort_key = ((buckets + rounds) * T + torch.arange(T, device=qk.device)).flatten(2)  # (B, H, n*T), unique
        order = sort_key.argsort(-1)  # sorted slot -> (round, position)
        pos = order % T  # (B, H, n*T): the position in each sorted slot

        def gather(t: torch.Tensor) -> torch.Tensor:  # (B, H, T, D) -> sorted, chunked (B, H, n*T/c, c, D)
            return t.gather(2, pos[..., None].expand(-1, -1, -1, D)).view(B, H, -1, c, D)

        def with_previous(t: torch.Tensor) -> torch.Tensor:  # each chunk followed by the one before it (wrapping)
            return torch.cat([t.roll(1, dims=2), t], dim=3)

        q_pos = pos.view(B, H, -1, c)
        out, lse = _attend(gather(qk), with_previous(gather(keys)), with_previous(gather(v)), q_pos,
                           with_previous(q_pos), self.causal, dropout)
        undo = order.argsort(-1)  # back to (round, position) order
        out = out.flatten(2, 3).gather(2, undo[..., None].expand(-1, -1, -1, D)).view(B, H, n, T, D)
        lse = lse.flatten(2).gather(2, undo).view(B, H, n, T)
        weights = torch.exp(lse - lse.logsumexp(2, keepdim=True))  # each round's share (HF's rounding, not softmax's)
        return (out * weights[..., None]).sum(2)  # (B, H, T, D)
