"""Turning next-token logits into a chosen token.

- temperature T: divide logits by T; T < 1 sharpens the distribution, T > 1 flattens it,
  T = 0 means greedy (always the most likely token);
- top-k: keep only the k most likely tokens;
- top-p (nucleus): keep the smallest set of most-likely tokens whose probabilities
  sum to at least p, so the candidate set adapts to how confident the model is.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import torch

from lmforge.errors import LmforgeError


@dataclass
class SamplingConfig:
    max_new_tokens: int = 256
    temperature: float = 1.0
    top_k: int | None = None
    top_p: float | None = None
    stop_tokens: frozenset[int] = field(default_factory=frozenset)
    seed: int | None = None
    use_cache: bool = True
    top_logprobs: int = 0  # also report this many most likely alternatives per generated token

    def validate(self) -> None:
        if self.max_new_tokens < 0:
            raise LmforgeError(f"max_new_tokens must be >= 0, got {self.max_new_tokens}")
        if self.temperature < 0:
            raise LmforgeError(f"temperature must be >= 0, got {self.temperature}")
        if self.top_k is not None and self.top_k < 1:
            raise LmforgeError(f"top_k must be >= 1, got {self.top_k}")
        if self.top_logprobs < 0:
            raise LmforgeError(f"top_logprobs must be >= 0, got {self.top_logprobs}")
        if self.top_p is not None and not 0.0 < self.top_p <= 1.0:
            raise LmforgeError(f"top_p must be in (0, 1], got {self.top_p}")


def filter_logits(logits: torch.Tensor, top_k: int | None, top_p: float | None) -> torch.Tensor:
    """Set logits outside the top-k / top-p candidate set to -inf. logits: (B, V)."""
    if top_k is not None and top_k < logits.shape[-1]:
        kth = torch.topk(logits, top_k, dim=-1).values[..., -1:]  # (B, 1): the k-th largest logit
        logits = logits.masked_fill(logits < kth, float("-inf"))
    if top_p is not None and top_p < 1.0:
        sorted_logits, order = torch.sort(logits, descending=True, dim=-1)
        cumulative = torch.softmax(sorted_logits, dim=-1).cumsum(dim=-1)
        # drop a token if the tokens ranked above it already reach p (the top token always stays)
        drop_sorted = (cumulative - torch.softmax(sorted_logits, dim=-1)) >= top_p
        drop = drop_sorted.scatter(-1, order, drop_sorted)
        logits = logits.masked_fill(drop, float("-inf"))
    return logits


def choose_tokens(logits: torch.Tensor, config: SamplingConfig, generator: torch.Generator | None) -> torch.Tensor:
    """(B, V) logits -> (B,) token ids."""
    if config.temperature == 0:
        return logits.argmax(dim=-1)
    logits = filter_logits(logits.float() / config.temperature, config.top_k, config.top_p)
    probs = torch.softmax(logits, dim=-1)
    return torch.multinomial(probs, num_samples=1, generator=generator).squeeze(-1)
