"""Position information. Attention alone is order-blind (a set operation), so
every family tells it where each token sits, in one of five ways:

- added to the token embeddings: :class:`LearnedPositions` (GPT-2, BERT) or the
  fixed :class:`SinusoidalPositions` of the original Transformer;
- rotating queries and keys: :class:`RotaryEmbedding` (RoPE, Llama), so q·k
  depends only on the *distance* between positions;
- added to the attention scores: :func:`alibi_bias` (a fixed penalty growing
  with distance) or :class:`RelativePositionBias` (T5, learned per distance bucket).
"""

from __future__ import annotations

import math

import torch
from torch import nn

Start = int | torch.Tensor  # position of the first token: one int for the batch, or (B,) one per row


def position_ids(start: Start, length: int, device: torch.device | None = None) -> torch.Tensor:
    """Absolute positions: (T,) for an int ``start``; (B, T) for per-row starts (B,), as when a batched
    decoder runs sequences of different lengths side by side (``kv_cache.SlotRows``)."""
    if isinstance(start, torch.Tensor) and start.dim() == 1:
        return start.to(device)[:, None] + torch.arange(length, device=device)
    if isinstance(start, torch.Tensor):  # 0-dim: one start for the batch, e.g. a traced shape (ONNX export)
        return start.to(device) + torch.arange(length, device=device)
    return torch.arange(start, start + length, device=device)


def _check_fits(positions: torch.Tensor, max_len: int) -> None:
    if positions.numel() and int(positions.max()) >= max_len:
        raise ValueError(f"positions up to {int(positions.max()) + 1} exceed the context length {max_len}")


class LearnedPositions(nn.Module):
    """GPT-2/BERT style: one trained vector per position, up to ``max_len``."""

    def __init__(self, max_len: int, d_model: int) -> None:
        super().__init__()
        self.max_len = max_len
        self.table = nn.Embedding(max_len, d_model)

    def forward(self, start: Start, length: int) -> torch.Tensor:  # -> (T, C), or (B, T, C) for per-row starts
        positions = position_ids(start, length, self.table.weight.device)
        _check_fits(positions, self.max_len)
        return self.table(positions)


class SinusoidalPositions(nn.Module):
    """"Attention is all you need": PE[p, 2i] = sin(p / 10000^(2i/C)), PE[p, 2i+1] = cos(same).

    Each pair of channels is a clock running at its own speed; nothing is trained.
    """

    def __init__(self, max_len: int, d_model: int, base: float = 10000.0) -> None:
        super().__init__()
        self.max_len = max_len
        angle = torch.arange(max_len)[:, None] * base ** (-torch.arange(0, d_model, 2) / d_model)  # (L, C/2)
        table = torch.stack([angle.sin(), angle.cos()], dim=-1).flatten(1)[:, :d_model]  # interleave sin, cos
        self.register_buffer("table", table, persistent=False)

    def forward(self, start: Start, length: int) -> torch.Tensor:  # -> (T, C), or (B, T, C) for per-row starts
        positions = position_ids(start, length, self.table.device)
        _check_fits(positions, self.max_len)
        return self.table[positions]


def rope_frequencies(head_dim: int, theta: float, scaling: dict | None = None) -> torch.Tensor:
    """Rotation speed of each channel pair: theta^(-2i/D), i < D/2, optionally rescaled for long contexts.

    ``{"rope_type": "linear", "factor": f}`` divides every speed by f (position interpolation);
    ``"llama3"`` slows only the low frequencies (long wavelengths), keeps the high ones,
    and blends in between, so short-range detail survives a longer context.
    """
    inv_freq = theta ** (-torch.arange(0, head_dim, 2, dtype=torch.float32) / head_dim)  # (D/2,)
    kind = (scaling or {}).get("rope_type", "default")
    if kind == "default":
        return inv_freq
    factor = float(scaling["factor"])
    if kind == "linear":
        return inv_freq / factor
    if kind == "llama3":
        low, high = float(scaling["low_freq_factor"]), float(scaling["high_freq_factor"])
        old_context = float(scaling["original_max_position_embeddings"])
        wavelength = 2 * math.pi / inv_freq
        smooth = ((old_context / wavelength - low) / (high - low)).clamp(0, 1)  # 0: long waves, 1: short waves
        return (1 - smooth) * inv_freq / factor + smooth * inv_freq
    raise ValueError(f"unsupported rope scaling {kind!r}; expected 'linear' or 'llama3'")


class RotaryEmbedding(nn.Module):
    """RoPE: rotate each (x_i, x_{i+D/2}) channel pair of q and k by angle p * freq_i.

    Rotating both by their own positions makes q_m · k_n depend on m - n only.
    Pairs are (first half, second half) as in HF Llama (llama.cpp pairs
    neighbours instead; its checkpoints are permuted on import). One instance is
    shared by all layers and remembers the last cos/sin it computed.
    """

    def __init__(self, head_dim: int, theta: float = 10000.0, scaling: dict | None = None) -> None:
        super().__init__()
        self.register_buffer("inv_freq", rope_frequencies(head_dim, theta, scaling), persistent=False)
        self._cached: tuple[tuple, torch.Tensor, torch.Tensor] | None = None

    def cos_sin(self, start: Start, length: int, dtype: torch.dtype) -> tuple[torch.Tensor, torch.Tensor]:
        """(T, D) cos and sin, or (B, 1, T, D) for per-row starts (which are not remembered)."""
        per_row = isinstance(start, torch.Tensor)
        key = (start, length, dtype, self.inv_freq.device)
        if per_row or self._cached is None or self._cached[0] != key:
            positions = position_ids(start, length, self.inv_freq.device).float()  # (T,) or (B, T)
            angles = positions[..., None] * self.inv_freq  # (..., T, D/2)
            angles = torch.cat([angles, angles], dim=-1)  # (..., T, D): both halves of a pair share an angle
            if per_row:
                angles = angles[:, None]  # (B, 1, T, D): the same angle for every head of a row
                return angles.cos().to(dtype), angles.sin().to(dtype)
            self._cached = (key, angles.cos().to(dtype), angles.sin().to(dtype))
        return self._cached[1], self._cached[2]

    def forward(self, q: torch.Tensor, k: torch.Tensor, start: Start = 0) -> tuple[torch.Tensor, torch.Tensor]:
        """q (B, H, T, D), k (B, Hkv, T, D) at absolute positions start .. start+T-1 (``start`` per row or shared)."""
        cos, sin = self.cos_sin(start, q.shape[-2], q.dtype)
        return _Rotate.apply(q, cos, sin), _Rotate.apply(k, cos, sin)


def rotate_pairs(x: torch.Tensor, cos: torch.Tensor, sin: torch.Tensor) -> torch.Tensor:
    """Turn each channel pair (a, b) = (x_i, x_{i+D/2}) by its angle: (a cos - b sin, b cos + a sin).

    The textbook form ``x * cos + rotate_half(x) * sin`` builds rotate_half(x) = (-b, a) with a negation and
    a concatenation first; writing the two halves of the result directly takes two passes instead of five.
    """
    h = x.shape[-1] // 2
    a, b, c, s = x[..., :h], x[..., h:], cos[..., :h], sin[..., :h]  # both halves of cos/sin are equal
    if torch.compiler.is_compiling():  # the compiler fuses this form itself, and cannot trace out= into views
        return torch.cat([torch.addcmul(a * c, b, s, value=-1), torch.addcmul(b * c, a, s)], dim=-1)
    out = torch.empty(x.shape, dtype=x.dtype, device=x.device)
    torch.mul(a, c, out=out[..., :h]).addcmul_(b, s, value=-1)
    torch.mul(b, c, out=out[..., h:]).addcmul_(a, s)
    return out


class _Rotate(torch.autograd.Function):
    """``rotate_pairs`` with its gradient written out: a rotation's transpose is the rotation by the
    opposite angle, so dL/dx = rotate_pairs(dL/dy, cos, -sin). Autograd would instead differentiate the
    multiplications, negation and concatenation one by one."""

    @staticmethod
    def forward(ctx, x: torch.Tensor, cos: torch.Tensor, sin: torch.Tensor) -> torch.Tensor:
        ctx.save_for_backward(cos, sin)
        return rotate_pairs(x, cos, sin)

    @staticmethod
    def backward(ctx, grad: torch.Tensor):
        cos, sin = ctx.saved_tensors
        return rotate_pairs(grad, cos, -sin), None, None


def alibi_slopes(n_heads: int) -> torch.Tensor:
    """Geometric slopes 2^(-8/n), 2^(-16/n), ...; for a non-power-of-2 head count the
    nearest power of two's slopes are topped up with every other slope of the next one."""
    def powers(n: int) -> list[float]:
        return [2 ** (-8 * (i + 1) / n) for i in range(n)]

    closest = 2 ** math.floor(math.log2(n_heads))
    slopes = powers(closest) + powers(2 * closest)[0::2][: n_heads - closest]
    return torch.tensor(slopes)


def alibi_bias(n_heads: int, t_query: int, t_key: int, device: torch.device | None = None,
               start: torch.Tensor | None = None) -> torch.Tensor:
    """ALiBi: score(i, j) -= slope_h * |i - j|. Returns (1, H, T, S); queries are the last T of S positions,
    or, given per-row starts ``start`` (B,), at start_b .. start_b+T-1 with keys at 0 .. S-1: (B, H, T, S)."""
    q_pos = position_ids(t_key - t_query if start is None else start, t_query, device)[..., None]  # ([B,] T, 1)
    distance = (q_pos - torch.arange(t_key, device=device)).abs()  # ([B,] T, S)
    if start is None:
        distance = distance[None]
    return -alibi_slopes(n_heads).to(device)[None, :, None, None] * distance[:, None]


class RelativePositionBias(nn.Module):
    """T5: a learned scalar per head for each *bucket* of key-minus-query distance.

    Small distances get a bucket each; larger ones share logarithmically wider
    buckets up to ``max_distance``. The encoder looks both ways (half the buckets
    per direction); the decoder only backwards.
    """

    def __init__(self, n_heads: int, n_buckets: int = 32, max_distance: int = 128, bidirectional: bool = True):
        super().__init__()
        self.n_buckets, self.max_distance, self.bidirectional = n_buckets, max_distance, bidirectional
        self.table = nn.Embedding(n_buckets, n_heads)

    def bucket(self, relative: torch.Tensor) -> torch.Tensor:
        """Distance key - query (any shape, long) -> bucket index."""
        n = self.n_buckets
        offset = torch.zeros_like(relative)
        if self.bidirectional:
            n //= 2
            offset = (relative > 0).long() * n  # keys to the right use the upper half of the buckets
            distance = relative.abs()
        else:
            distance = (-relative).clamp(min=0)  # only the past counts
        exact = n // 2
        log_ratio = torch.log(distance.float().clamp(min=1) / exact) / math.log(self.max_distance / exact)
        far = (exact + (log_ratio * (n - exact)).long()).clamp(max=n - 1)
        return offset + torch.where(distance < exact, distance, far)

    def forward(self, t_query: int, t_key: int) -> torch.Tensor:  # -> (1, H, T, S)
        device = self.table.weight.device
        q_pos = torch.arange(t_key - t_query, t_key, device=device)[:, None]
        relative = torch.arange(t_key, device=device)[None, :] - q_pos  # (T, S)
        return self.table(self.bucket(relative)).permute(2, 0, 1)[None]
