"""What the language models without attention (bigram, MLP, RNN/LSTM/GRU) share.

They plug into the same :class:`~lmforge.infer.engine.GenerationEngine` as the
GPT: ``forward(ids, cache)`` returns next-token logits (B, T, V), and the
"cache" is a :class:`StreamState` holding whatever the model needs from the
past, where the GPT keeps keys and values.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import torch
from torch import nn

from lmforge.errors import ConfigError


@dataclass
class StreamState:
    """Generation state: ``memory`` is nothing (bigram), the last k-1 tokens (MLP)
    or the hidden state (RNN); ``length`` counts the tokens consumed, which the
    engine compares with the context length as it does for the KV cache."""

    memory: Any = None
    length: int = 0

    def advance(self, memory: Any, n_tokens: int) -> None:
        self.memory = memory
        self.length += n_tokens


class StreamingLM(nn.Module):
    """Base class: the interface the registry, trainer and generation engine expect."""

    family: str
    config_class: type
    config: Any  # a dataclass with at least vocab_size and context_length

    @property
    def context_length(self) -> int:
        """Training window; the engine also caps prompts at it and re-reads recent context past it."""
        return self.config.context_length

    def num_parameters(self) -> int:
        return sum(p.numel() for p in self.parameters())

    def new_cache(self, batch_size: int, max_len: int | None = None, dtype: torch.dtype | None = None) -> StreamState:
        return StreamState()


def check_config(config: Any, positive: tuple[str, ...]) -> None:
    """Shared validation: the named fields must be positive, ``dropout`` (if any) in [0, 1)."""
    name = type(config).__name__
    for field in positive:
        if getattr(config, field) <= 0:
            raise ConfigError(f"{name}.{field} must be positive, got {getattr(config, field)}")
    dropout = getattr(config, "dropout", 0.0)
    if not 0.0 <= dropout < 1.0:
        raise ConfigError(f"{name}.dropout must be in [0, 1), got {dropout}")
