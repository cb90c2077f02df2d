"""Key/value caches: for incremental decoding (:class:`KVCache`) and for
Transformer-XL-style training in segments (:class:`SegmentMemory`).

Without a cache, generating token t re-runs attention over all t previous tokens
in every layer: O(T^2) work per token. With it, each step computes k/v only for
the new token and appends them, so a step costs O(T) (and far fewer FLOPs).
Buffers are preallocated to ``max_len`` so appending never reallocates.
"""

from __future__ import annotations

import torch

from lmforge.errors import LmforgeError


class KVCache:
    """Per-layer key/value buffers of shape ``(B, n_kv_heads, max_len, head_dim)``."""

    def __init__(
        self,
        n_layers: int,
        batch_size: int,
        n_kv_heads: int,
        head_dim: int,
        max_len: int,
        dtype: torch.dtype = torch.float32,
        device: torch.device | str = "cpu",
    ) -> None:
        shape = (batch_size, n_kv_heads, max_len, head_dim)
        self.keys = [torch.zeros(shape, dtype=dtype, device=device) for _ in range(n_layers)]
        self.values = [torch.zeros(shape, dtype=dtype, device=device) for _ in range(n_layers)]
        self.max_len = max_len
        self.length = 0  # number of positions already stored (same for every layer)

    def update(self, layer: int, k: torch.Tensor, v: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Store new ``k, v`` (B, H, T_new, D) for ``layer``; return all keys/values so far."""
        start, end = self.length, self.length + k.shape[2]
        if end > self.max_len:
            raise LmforgeError(f"sequence of {end} tokens exceeds the model's context length {self.max_len}")
        self.keys[layer][:, :, start:end] = k
        self.values[layer][:, :, start:end] = v
        return self.keys[layer][:, :, :end], self.values[layer][:, :, :end]

    def advance(self, n_tokens: int) -> None:
        """Called once per forward pass, after every layer has stored its k/v."""
        self.length += n_tokens

    def reorder(self, batch_indices: torch.Tensor) -> None:
        """Select/duplicate batch rows (beam search keeps the surviving beams)."""
        for i in range(len(self.keys)):
            self.keys[i] = self.keys[i].index_select(0, batch_indices)
            self.values[i] = self.values[i].index_select(0, batch_indices)


class SegmentMemory:
    """Transformer-XL's segment recurrence, with the same interface as :class:`KVCache`.

    A long window is read in segments; while reading segment s, every layer also attends to the keys and
    values of the last ``size`` positions before it (from segments s-1, s-2, ...), *detached*: the
    gradient stops at the segment boundary and attention costs T x (size + T) scores per segment, yet a
    token sees up to ``size`` tokens further back. (The paper keeps each layer's input and re-projects it;
    keeping the projected keys/values gives the same forward pass.) Positions must be relative (ALiBi): the
    remembered keys are compared with queries whose absolute positions they never saw.
    """

    def __init__(self, size: int) -> None:
        self.size = size
        self.keys: dict[int, torch.Tensor] = {}
        self.values: dict[int, torch.Tensor] = {}
        self._next: dict[int, tuple[torch.Tensor, torch.Tensor]] = {}  # written by this segment, used by the next

    @property
    def length(self) -> int:
        """Remembered positions before the current segment (0 for the first)."""
        return self.keys[0].shape[2] if self.keys else 0

    def update(self, layer: int, k: torch.Tensor, v: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Segment keys/values (B, H, T, D) -> (B, H, length + T, D) with the remembered ones first."""
        if layer in self.keys:
            k, v = torch.cat([self.keys[layer], k], dim=2), torch.cat([self.values[layer], v], dim=2)
        self._next[layer] = k[:, :, -self.size:].detach(), v[:, :, -self.size:].detach()
        return k, v

    def advance(self, n_tokens: int) -> None:
        """After every layer has read the segment: its keys/values become the memory for the next one."""
        for layer, (k, v) in self._next.items():
            self.keys[layer], self.values[layer] = k, v
        self._next = {}
