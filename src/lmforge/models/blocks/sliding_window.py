"""Sliding-window attention (Mistral): each token attends only to itself and the ``window - 1`` tokens
before it, instead of the whole past.

Attention then costs T x window scores instead of T^2 / 2, and a generating model needs the keys and
values of the last ``window - 1`` positions only: :class:`SlidingWindowCache` keeps exactly those, so
its memory stays flat however long the text grows. Information from further back still arrives, one
window per layer: layer l's output at position i summarises positions down to i - l (window - 1).
"""

from __future__ import annotations

import torch


def window_bias(t_query: int, t_key: int, window: int, dtype: torch.dtype, device: torch.device,
                start: torch.Tensor | None = None) -> torch.Tensor:
    """Additive mask hiding keys ``window`` or more positions behind each query: (1, 1, T, S), or (B, 1, T, S).

    Queries are the last T of the S keys, as with a cache that holds the past keys in order; ``start``
    (B,) instead places row b's queries at key indices start_b .. start_b + T - 1 (per-row caches).
    """
    offset = torch.tensor(t_key - t_query, device=device) if start is None else start.to(device)[:, None]
    queries = offset + torch.arange(t_query, device=device)  # (T,) or (B, T): each query's key index
    too_far = queries[..., None] - torch.arange(t_key, device=device) >= window  # (..., T, S)
    bias = too_far.to(dtype) * torch.finfo(dtype).min
    return bias[None, None] if start is None else bias[:, None]


class SlidingWindowCache:
    """A KV cache (the :class:`~lmforge.models.blocks.kv_cache.KVCache` interface) that keeps, per layer,
    only the keys/values of the last ``window - 1`` positions: all a new token can see besides itself.

    ``update`` returns the kept past followed by the new keys, in order, so the new queries are the last
    T of the keys and :func:`window_bias` applies as without a cache. Keys carry their RoPE rotation
    from when they were stored, so dropping old ones changes nothing for the others.
    """

    def __init__(self, n_layers: int, window: int) -> None:
        self.window = window
        self.keys: list[torch.Tensor | None] = [None] * n_layers
        self.values: list[torch.Tensor | None] = [None] * n_layers
        self.length = 0  # positions seen so far (the next token's absolute position)

    def update(self, layer: int, k: torch.Tensor, v: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """New ``k, v`` (B, H, T, D) -> (B, H, kept + T, D); afterwards only the last window - 1 are kept."""
        if self.keys[layer] is not None:
            k = torch.cat([self.keys[layer], k], dim=2)
            v = torch.cat([self.values[layer], v], dim=2)
        keep = self.window - 1
        first = max(k.shape[2] - keep, 0)
        self.keys[layer], self.values[layer] = k[:, :, first:], v[:, :, first:]
        return k, v

    def advance(self, n_tokens: int) -> None:
        self.length += n_tokens

    def row_bias(self, t_query: int, dtype: torch.dtype) -> None:
        """Every row has the same length: the causal triangle and the window are the whole mask."""
        return None

    def reorder(self, batch_indices: torch.Tensor) -> None:
        """Select/duplicate batch rows (beam search keeps the surviving beams)."""
        for store in (self.keys, self.values):
            for i, t in enumerate(store):
                if t is not None:
                    store[i] = t.index_select(0, batch_indices)

    @property
    def nbytes(self) -> int:
        return sum(t.numel() * t.element_size() for t in [*self.keys, *self.values] if t is not None)
