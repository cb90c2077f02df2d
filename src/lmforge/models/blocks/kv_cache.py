"""Key/value caches: for incremental decoding (:class:`KVCache`), for many sequences of
different lengths decoded side by side (:class:`SlotKVCache`), and for Transformer-XL-style
training in segments (:class:`SegmentMemory`).

Without a cache, generating token t re-runs attention over all t previous tokens
in every layer: O(T^2) work per token. With it, each step computes k/v only for
the new token and appends them, so a step costs O(T) (and far fewer FLOPs).
Buffers are preallocated to ``max_len`` so appending never reallocates.

What attention and the position blocks read from any of them: ``length`` (the position of the
first new token: an int, or (B,) one per row for :class:`SlotRows`), ``update`` (store this
layer's new k/v, get all of them back), ``row_bias`` (a per-row causal mask when rows have
different lengths, else None) and ``advance`` (after the last layer).
"""

from __future__ import annotations

from collections.abc import Sequence

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

    def row_bias(self, t_query: int, dtype: torch.dtype) -> None:
        """Every row has the same length, so attention's own causal triangle is the whole mask."""
        return None

    def reorder(self, batch_indices: torch.Tensor) -> None:
        """Select/duplicate batch rows (beam search keeps the surviving beams)."""
        for i in range(len(self.keys)):
            self.keys[i] = self.keys[i].index_select(0, batch_indices)
            self.values[i] = self.values[i].index_select(0, batch_indices)


class SlotKVCache:
    """Keys/values for up to ``n_slots`` independent sequences, allocated once and reused.

    A server decodes many requests at once, each at its own length. Each request holds one *slot*
    (a row of every buffer) from its prompt to its last token; the slot's keys sit at the indices of
    their positions (a ragged layout, no left padding), so a request can join or leave between any
    two steps without moving anybody else's cache. The memory is fixed up front: ``nbytes``.
    Which slot belongs to whom is the caller's business (``infer.batch``); a forward pass reads and
    writes the rows it is given through :meth:`rows`.
    """

    def __init__(self, n_layers: int, n_slots: int, n_kv_heads: int, head_dim: int, max_len: int,
                 dtype: torch.dtype = torch.float32, device: torch.device | str = "cpu") -> None:
        self.cache = KVCache(n_layers, n_slots, n_kv_heads, head_dim, max_len, dtype, device)
        self.max_len, self.n_slots = max_len, n_slots
        self.lengths = [0] * n_slots  # positions stored in each slot

    @property
    def nbytes(self) -> int:
        return sum(t.numel() * t.element_size() for t in [*self.cache.keys, *self.cache.values])

    def rows(self, slots: Sequence[int], real: Sequence[int] | None = None) -> SlotRows:
        """The cache for one forward pass over the sequences in ``slots`` (one batch row each, in order).

        ``real``: how many of the pass's T new positions are real tokens in each row, when shorter rows are
        padded on the right to T (a batched prefill); only those are kept (default: all T). The pad keys are
        written past a row's end, where its mask hides them until its next tokens overwrite them.
        """
        return SlotRows(self, list(slots), None if real is None else list(real))

    def clear(self, slot: int) -> None:
        """Free ``slot`` for the next sequence (its old keys are simply overwritten later)."""
        self.lengths[slot] = 0

    def copy_prefix(self, dst: int, src: int, n: int) -> None:
        """Slot ``dst`` starts as the first ``n`` positions of slot ``src`` (a prompt prefix computed once)."""
        for buffer in [*self.cache.keys, *self.cache.values]:
            buffer[dst, :, :n] = buffer[src, :, :n]
        self.lengths[dst] = n

    def copy_slots(self, dst: Sequence[int], src: Sequence[int]) -> None:
        """Slot dst[i] becomes a copy of slot src[i], all at once (beam search: the surviving beams'
        caches move to the rows of their continuations; a beam may have several or none)."""
        lengths = [self.lengths[s] for s in src]
        end = max(lengths)
        dst_index, src_index = torch.tensor(list(dst)), torch.tensor(list(src))
        for buffer in [*self.cache.keys, *self.cache.values]:
            buffer[dst_index, :, :end] = buffer[src_index, :, :end]  # the right side is gathered (copied) first
        for d, n in zip(dst, lengths, strict=True):
            self.lengths[d] = n


class SlotRows:
    """Rows ``slots`` of a :class:`SlotKVCache`, with the KVCache interface the models call.

    ``length`` is (B,): each row's next position. A row's keys live at indices 0 .. length-1 of its
    slot, so a step reads indices 0 .. S-1 (S = the longest row + the new tokens) and ``row_bias``
    hides from each row what lies beyond its own end: query i of row b sees key j iff
    j <= length_b + i (causal and padding in one mask).
    """

    def __init__(self, slot_cache: SlotKVCache, slots: list[int], real: list[int] | None = None) -> None:
        self.slot_cache, self.slots, self.real = slot_cache, slots, real
        device = slot_cache.cache.keys[0].device
        self.length = torch.tensor([slot_cache.lengths[s] for s in slots], device=device)  # (B,)
        self._index = torch.tensor(slots, device=device)  # (B,)
        self._contiguous = slots == list(range(slots[0], slots[0] + len(slots)))  # read a view, no copy
        self._bias: torch.Tensor | None = None

    def update(self, layer: int, k: torch.Tensor, v: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Store new ``k, v`` (B, H, T, D) at each row's own positions; return keys/values (B, H, S, D)."""
        T = k.shape[2]
        end = int(self.length.max()) + T
        if end > self.slot_cache.max_len:
            raise LmforgeError(f"sequence of {end} tokens exceeds the cache's length {self.slot_cache.max_len}")
        positions = self.length[:, None] + torch.arange(T, device=k.device)  # (B, T)
        rows = self._index[:, None]  # (B, 1)
        out = []
        for buffer, new in ((self.slot_cache.cache.keys[layer], k), (self.slot_cache.cache.values[layer], v)):
            buffer[rows, :, positions] = new.transpose(1, 2)  # indexed (B, T, H, D)
            window = buffer[:, :, :end]
            s0 = self.slots[0]
            out.append(window[s0 : s0 + len(self.slots)] if self._contiguous else window.index_select(0, self._index))
        return out[0], out[1]

    def row_bias(self, t_query: int, dtype: torch.dtype) -> torch.Tensor | None:
        """Additive (B, 1, T, S) mask: 0 where query i of row b may see key j (j <= length_b + i), else -big.

        One row alone is an ordinary cache (its queries are the last T of S keys): None, the causal default.
        """
        if len(self.slots) == 1:
            return None
        if self._bias is None or self._bias.dtype != dtype:
            t_key = int(self.length.max()) + t_query
            last_visible = self.length[:, None] + torch.arange(t_query, device=self.length.device)  # (B, T)
            hidden = torch.arange(t_key, device=self.length.device) > last_visible[..., None]  # (B, T, S)
            self._bias = (hidden[:, None].to(dtype)) * torch.finfo(dtype).min
        return self._bias

    def advance(self, n_tokens: int) -> None:
        for s, n in zip(self.slots, self.real or [n_tokens] * len(self.slots), strict=True):
            self.slot_cache.lengths[s] += n


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

    def row_bias(self, t_query: int, dtype: torch.dtype) -> None:
        return None

    def advance(self, n_tokens: int) -> None:
        """After every layer has read the segment: its keys/values become the memory for the next one."""
        for layer, (k, v) in self._next.items():
            self.keys[layer], self.values[layer] = k, v
        self._next = {}
