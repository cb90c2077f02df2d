"""Turning next-token logits into a chosen token.

- temperature T: divide logits by T; T < 1 sharpens the distribution, T > 1 flattens it,
  T = 0 means greedy (always the most likely token);
- top-k: keep only the k most likely tokens;
- top-p (nucleus): keep the smallest set of most-likely tokens whose probabilities
  sum to at least p, so the candidate set adapts to how confident the model is;
- min-p: keep tokens at least min_p times as likely as the most likely one (a cut that
  tightens when the model is sure and loosens when it is not).

Penalties against repeating (:func:`apply_penalties`, before the above):
- repetition penalty r (CTRL, Hugging Face): a token already in the prompt or the reply has
  its logit divided by r when positive, multiplied by r when negative;
- frequency / presence penalty (OpenAI): subtract f x (times the token was generated so far)
  and p x (whether it was generated at all).
"""

from __future__ import annotations

from collections.abc import Sequence
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
    min_p: float | None = None
    repetition_penalty: float = 1.0
    frequency_penalty: float = 0.0
    presence_penalty: float = 0.0

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
        if self.min_p is not None and not 0.0 <= self.min_p <= 1.0:
            raise LmforgeError(f"min_p must be in [0, 1], got {self.min_p}")
        if self.repetition_penalty <= 0:
            raise LmforgeError(f"repetition_penalty must be > 0, got {self.repetition_penalty}")

    @property
    def penalized(self) -> bool:
        return self.repetition_penalty != 1.0 or self.frequency_penalty != 0.0 or self.presence_penalty != 0.0


def apply_penalties(logits: torch.Tensor, prompt: Sequence[int], generated: Sequence[int],
                    config: SamplingConfig) -> torch.Tensor:
    """(B, V) logits of one sequence's next token, less likely where it would repeat (see the module docstring)."""
    if not config.penalized:
        return logits
    logits = logits.float().clone()
    if config.repetition_penalty != 1.0:
        seen = torch.tensor(sorted({*prompt, *generated}), dtype=torch.long, device=logits.device)
        values = logits[..., seen]
        r = config.repetition_penalty
        logits[..., seen] = torch.where(values > 0, values / r, values * r)
    if generated and (config.frequency_penalty or config.presence_penalty):
        counts = torch.bincount(torch.tensor(generated, device=logits.device), minlength=logits.shape[-1]).float()
        logits -= config.frequency_penalty * counts + config.presence_penalty * (counts > 0).float()
    return logits


def filter_logits(logits: torch.Tensor, top_k: int | None, top_p: float | None,
                  min_p: float | None = None) -> torch.Tensor:
    """Set logits outside the top-k / top-p / min-p candidate set to -inf. logits: (B, V)."""
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
    if min_p:
        probs = torch.softmax(logits, dim=-1)
        logits = logits.masked_fill(probs < min_p * probs.amax(dim=-1, keepdim=True), float("-inf"))
    return logits


def choose_tokens(logits: torch.Tensor, config: SamplingConfig, generator: torch.Generator | None) -> torch.Tensor:
    """(B, V) logits -> (B,) token ids."""
    if config.temperature == 0:
        return logits.argmax(dim=-1)
    logits = filter_logits(logits.float() / config.temperature, config.top_k, config.top_p, config.min_p)
    probs = torch.softmax(logits, dim=-1)
    return torch.multinomial(probs, num_samples=1, generator=generator).squeeze(-1)
